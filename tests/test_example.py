"""The triple (decaqa.example): its answers and target, its paraphrases, plain data, the one
input format, and truncation that keeps the closing </s>."""
from __future__ import annotations

from decaqa.example import DEFAULT_FORMAT, QAExample, clip_ids, format_input


def test_a_triple_knows_its_answers_target_and_paraphrases() -> None:
    one = QAExample("Ana lives in Olmora.", "Where does Ana live?", "Olmora", "squad", "7")
    assert one.answers == ["Olmora"] and one.target == "Olmora"
    assert one.questions == ("Where does Ana live?",) and one.paraphrases == ()
    many = QAExample("a fine film", "Is this review negative or positive?",
                     ["positive", "good"], "sst2", "1", choices=("negative", "positive"),
                     questions=("Is this review negative or positive?", "Positive or not?"))
    assert many.target == "positive" and many.answers == ["positive", "good"]
    assert many.paraphrases == ("Positive or not?",)
    assert many.to_dict() == {"context": "a fine film",
                              "question": "Is this review negative or positive?",
                              "answer": ["positive", "good"], "task": "sst2", "id": "1",
                              "choices": ["negative", "positive"], "meta": {},
                              "questions": ["Is this review negative or positive?",
                                            "Positive or not?"]}


def test_the_input_format_puts_the_question_first() -> None:
    assert format_input("Who?", "Ana.") == "question: Who? context: Ana."
    assert DEFAULT_FORMAT == "question: {question} context: {context}"
    assert format_input("Who?", "Ana.", "{context} || {question}") == "Ana. || Who?"


def test_truncation_keeps_the_closing_token() -> None:
    assert clip_ids([5, 6, 7, 8, 1], 3) == [5, 6, 1]
    assert clip_ids([5, 6, 1], 3) == [5, 6, 1]
    assert clip_ids([5, 1], 3) == [5, 1]
