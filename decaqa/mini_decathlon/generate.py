"""Write the mini decathlon: ten small, learnable versions of decaNLP's ten tasks.

    python -m decaqa.mini_decathlon.generate            # rewrite the shipped files
    python -m decaqa.mini_decathlon.generate --out DIR  # write elsewhere (the tests do)

Every row has the exact schema of the real HuggingFace data set (field names, nesting, label
ids), so the real converters read these files unchanged and the quickstart runs the same code
path as a full decaNLP run. Only the standard library is used: each (task, split) draws from its
own ``random.Random("<task>/<split>")`` (string seeds are hashed with SHA-512, independent of
PYTHONHASHSEED) and nothing iterates over a set, so the files come out byte-identical every time.

Shared design, sized for a ~5-10M-parameter T5 trained from scratch on 2 CPU cores:
- a small closed vocabulary and short texts (contexts mostly 20-70 words, answers 1-6 words);
- people, places, companies and titles are invented from syllables and fresh in every example,
  so answers must be *copied* from the context, never memorised; a task's validation split never
  reuses a name its training split used, and no validation context appears in training;
- classification labels are balanced and the cue words sit on both sides of a label ("not" in
  positive and negative reviews, and under all three NLI labels), so no single token or
  position gives the answer away; extractive tasks put same-type distractors beside the answer;
- but, as in the real data, the easy part is large enough to learn from in a few hundred steps:
  most sst2 reviews say what they mean in their sentiment words (a bag of words gets ~72%, as
  on real SST-2) and only the rest need negation or contrast; a multinli label is always
  decided by comparing hypothesis and premise word by word with a few rules (the hypothesis
  alone stays at chance), and only a fifth of the premises hold a second scene.
The design of each task is in the docstring of its function below.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Callable

from decaqa.formats import query_repr
from decaqa.mini_decathlon import ALL_TASKS, ROOT, SPLITS, path

SIZES = {  # rows per split; woz counts dialogues. The five copying tasks get 3x the training
    # rows: with every name fresh, more rows mean fewer repeats of each name, so a small model
    # learns to copy instead of memorising (quickstart decaScore 457 -> 488 with this and an
    # equal mixture). Validation sizes are unchanged.
    "squad": (6000, 200), "iwslt": (2000, 200), "cnn_dailymail": (1600, 160),
    "multinli": (1998, 198), "sst2": (2000, 200), "qa_srl": (6000, 200),
    "qa_zre": (6000, 200), "woz": (300, 50), "wikisql": (4800, 160), "wsc": (6000, 200),
    # the five beyond the decathlon: enough rows for 1,000 steps of 24 per task (12 epochs)
    "rte": (2000, 200), "mrpc": (2000, 200), "qnli": (2000, 200), "squad_v2": (2000, 200),
    "boolq": (2000, 200)}


# -- shared helpers ---------------------------------------------------------------------------
ONSETS = "b d f g h k l m n p r s t v z br dr gr kr pr tr st sk sh".split()
VOWELS = "a e i o u a e i o a ei ou".split()
CODAS = ["", "", "n", "r", "l", "s", "m", "k", "nd", "rt"]


class Names:
    """Invented names, fresh on every call. ``taken`` is shared by a task's two splits, so
    validation never reuses a training name (and training never repeats one)."""

    def __init__(self, rng: random.Random, taken: set[str]):
        self.rng, self.taken = rng, taken

    def word(self, lo: int = 2, hi: int = 2) -> str:
        r = self.rng
        stem = "".join(r.choice(ONSETS) + r.choice(VOWELS) for _ in range(r.randint(lo, hi)))
        return (stem + r.choice(CODAS)).capitalize()

    def fresh(self, make: Callable[[], str]) -> str:
        while True:
            name = make()
            if name not in self.taken:
                self.taken.add(name)
                return name

    def first(self) -> str:
        return self.fresh(lambda: self.word(2, 2))

    def person(self) -> str:
        return self.fresh(lambda: f"{self.word(1, 2)} {self.word(2, 3)}")

    def place(self) -> str:
        suffix = ["", "", "", "ton", "burg", "vale", "mouth", "field", "ford"]
        return self.fresh(lambda: self.word(2, 2) + self.rng.choice(suffix))

    def company(self) -> str:
        kind = ["Systems", "Foods", "Motors", "Media", "Energy", "Textiles", "Robotics", "Bank",
                "Airlines", "Labs", "Steel", "Shipping", "Software", "Farms", "Telecom"]
        return self.fresh(lambda: f"{self.word(2, 2)} {self.rng.choice(kind)}")

    def title(self) -> str:
        adj = ["Silent", "Last", "Golden", "Broken", "Hidden", "Long", "Red", "Quiet", "Lost",
               "Winter", "Bright", "Empty", "Seventh", "Burning", "Distant"]
        noun = ["River", "Garden", "Door", "Summer", "Road", "House", "Letter", "Island",
                "Storm", "Bridge", "Mirror", "Harbour", "Song", "Tower", "Forest"]
        return self.fresh(lambda: self.rng.choice([
            f"The {self.rng.choice(adj)} {self.rng.choice(noun)}",
            f"{self.word(2, 2)} {self.rng.choice(noun)}",
            f"The {self.rng.choice(noun)} of {self.word(2, 2)}"]))

    def team(self) -> str:
        kind = ["FC", "United", "City", "Rovers", "Athletic"]
        return self.fresh(lambda: f"{self.word(2, 2)} {self.rng.choice(kind)}")


def spans(pieces: list) -> tuple[str, dict]:
    """Join text pieces; a ``(key, text)`` piece records ``key -> (char offset, text)``."""
    text, where = "", {}
    for piece in pieces:
        if isinstance(piece, tuple):
            where.setdefault(piece[0], (len(text), piece[1]))
            piece = piece[1]
        text += piece
    return text, where


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def fix_articles(text: str) -> str:
    """'a architect' -> 'an architect' in template output."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def hexid(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def number(n: int) -> str:
    return f"{n:,}"


DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
JOBS = ["teacher", "doctor", "engineer", "painter", "farmer", "pilot", "lawyer", "baker",
        "nurse", "architect", "chemist", "writer", "singer", "carpenter", "judge", "banker"]


# -- squad -------------------------------------------------------------------------------------
def _year(r: random.Random, lo: int, hi: int) -> tuple[str, str]:
    return ("year", str(r.randint(lo, hi)))


def _facts(kind: str, r: random.Random, nm: Names) -> tuple[list, list]:
    """One squad fact about a person: the pieces after the subject and its questions."""
    if kind == "born":
        return ([" was born in ", ("city", nm.place()), " in ", _year(r, 1930, 1975), "."],
                [("Where was {P} born?", "city"), ("In what year was {P} born?", "year"),
                 ("When was {P} born?", "year"), ("What town was {P} born in?", "city")])
    if kind == "works":
        job = r.choice(JOBS)
        return ([" works for ", ("company", nm.company()), f" as {article(job)} ", ("job", job),
                 "."],
                [("Which company does {P} work for?", "company"), ("Who employs {P}?", "company"),
                 ("What is {P}'s job?", "job"), ("What does {P} work as?", "job"),
                 ("Who works for {company}?", "who")])
    if kind == "founded":
        return ([" founded ", ("company", nm.company()), " in ", _year(r, 1976, 2019), "."],
                [("Who founded {company}?", "who"),
                 ("In which year was {company} founded?", "year"),
                 ("What company did {P} found?", "company"),
                 ("When did {P} found a company?", "year")])
    if kind == "lives":
        return ([" now lives in ", ("city", nm.place()), " with ",
                 r.choice(["two", "three", "four"]), " children."],
                [("Where does {P} live?", "city"), ("Who lives in {city}?", "who"),
                 ("In which town does {P} live now?", "city")])
    if kind == "age":
        return ([" is ", ("age", str(r.randint(19, 88))), " years old."],
                [("How old is {P}?", "age"), ("What is the age of {P}?", "age")])
    if kind == "studied":
        return ([" studied ", ("subject", r.choice(SUBJECTS)), " at the ",
                 ("uni", f"University of {nm.place()}"), "."],
                [("What did {P} study?", "subject"), ("Where did {P} study?", "uni"),
                 ("Which subject did {P} study?", "subject")])
    if kind == "married":
        return ([" married ", ("spouse", nm.person()), " in ", _year(r, 1976, 2020), "."],
                [("Who did {P} marry?", "spouse"), ("Who is {P} married to?", "spouse"),
                 ("In what year did {P} marry?", "year")])
    assert kind == "wrote"
    return ([" wrote a book called ", ("book", nm.title()), " in ", _year(r, 1976, 2020), "."],
            [("What book did {P} write?", "book"), ("Who wrote {book}?", "who"),
             ("When did {P} write {book}?", "year")])


SUBJECTS = ["history", "physics", "music", "law", "medicine", "chemistry", "biology", "economics",
            "architecture", "mathematics", "painting", "farming", "geography", "languages"]
SQUAD_KINDS = ["born", "works", "founded", "lives", "age", "studied", "married", "wrote"]


def squad(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Extractive QA over 3-5 sentence biographies of 2-3 invented people.

    Learnable: facts come from eight sentence shapes and every answer is a span of the
    paragraph. Not trivial: every person in a paragraph has the same kinds of facts (two birth
    towns, two companies, ...), so the question's name must be matched; later facts about a
    person often use "He"/"She", and some questions ask the reverse way ("Who founded X?")."""
    rows: list[dict] = []
    while len(rows) < n:
        context, where, qas, people, _ = _biography(r, nm)
        title = people[0].replace(" ", "_")
        for q, key in r.sample(qas, min(len(qas), r.choice([2, 3]))):
            start, text = where[key]
            assert context[start:start + len(text)] == text
            rows.append({"id": hexid(r, 24), "title": title, "context": context, "question": q,
                         "answers": {"text": [text], "answer_start": [start]}})
    return rows[:n]


def _biography(r: random.Random, nm: Names) -> tuple[str, dict, list, list[str], list[dict]]:
    """One squad paragraph: (context, where each keyed value is, questions with the key of
    their answer, the people, and its facts as ``{"who", "kind", "sentence", "values"}``)."""
    k = r.choice([2, 2, 3])
    kinds = r.sample(SQUAD_KINDS, 2 if k == 2 else 1)
    extra = r.choice(SQUAD_KINDS) if k == 3 and r.random() < 0.5 else None
    pieces, qas, facts = [], [], []
    people = [nm.person() for _ in range(k)]
    for i, person in enumerate(people):
        pron = r.choice(["He", "She"])
        own = kinds + ([extra] if extra and i == 0 and extra not in kinds else [])
        for j, kind in enumerate(own):
            after, questions = _facts(kind, r, nm)
            subject = pron if j > 0 and r.random() < 0.5 else person
            keyed = [(f"{i}.who", subject)] if subject == person else [subject]
            keyed += [(f"{i}.{kind}.{p[0]}", p[1]) if isinstance(p, tuple) else p
                      for p in after]
            pieces += keyed + [" "]
            values = {p[0]: p[1] for p in after if isinstance(p, tuple)}
            facts.append({"who": i, "kind": kind, "values": values, "sentence": "".join(
                p[1] if isinstance(p, tuple) else p for p in keyed)})
            for q, key in questions:
                where = f"{i}.who" if key == "who" else f"{i}.{kind}.{key}"
                qas.append((q.format(P=person, **values), where))
    if r.random() < 0.3:  # a fact about a town, asked by name of the town
        towns = [p[1] for p in pieces if isinstance(p, tuple) and p[0].endswith(".city")]
        if towns:
            town = r.choice(towns)
            river, people_n = f"{nm.word(2, 2)} River", number(r.randint(2, 90) * 100)
            pieces += [town, " lies on the ", ("river", river), " and has about ",
                       ("pop", people_n), " people. "]
            qas += [(f"Which river does {town} lie on?", "river"),
                    (f"How many people live in {town}?", "pop")]
    context, where = spans(pieces)
    return context.strip(), where, qas, people, facts


# -- iwslt -------------------------------------------------------------------------------------
# (english, english plural, german, german plural, gender, categories)
NOUNS = [n.split("|") for n in """man|men|Mann|Männer|m|person
woman|women|Frau|Frauen|f|person
child|children|Kind|Kinder|n|person
teacher|teachers|Lehrer|Lehrer|m|person
friend|friends|Freund|Freunde|m|person
doctor|doctors|Arzt|Ärzte|m|person
girl|girls|Mädchen|Mädchen|n|person
baker|bakers|Bäcker|Bäcker|m|person
king|kings|König|Könige|m|person
queen|queens|Königin|Königinnen|f|person
sister|sisters|Schwester|Schwestern|f|person
brother|brothers|Bruder|Brüder|m|person
cook|cooks|Koch|Köche|m|person
singer|singers|Sänger|Sänger|m|person
dog|dogs|Hund|Hunde|m|animal
cat|cats|Katze|Katzen|f|animal
bird|birds|Vogel|Vögel|m|animal
horse|horses|Pferd|Pferde|n|animal
cow|cows|Kuh|Kühe|f|animal
mouse|mice|Maus|Mäuse|f|animal
book|books|Buch|Bücher|n|thing text
apple|apples|Apfel|Äpfel|m|thing food
letter|letters|Brief|Briefe|m|thing text open
key|keys|Schlüssel|Schlüssel|m|thing
bag|bags|Tasche|Taschen|f|thing open
flower|flowers|Blume|Blumen|f|thing
bottle|bottles|Flasche|Flaschen|f|thing open
newspaper|newspapers|Zeitung|Zeitungen|f|thing text
picture|pictures|Bild|Bilder|n|thing paint
cake|cakes|Kuchen|Kuchen|m|thing food
chair|chairs|Stuhl|Stühle|m|thing build
lamp|lamps|Lampe|Lampen|f|thing
ball|balls|Ball|Bälle|m|thing
cup|cups|Tasse|Tassen|f|thing wash
hat|hats|Hut|Hüte|m|thing
car|cars|Auto|Autos|n|big wash
boat|boats|Boot|Boote|n|big build paint
table|tables|Tisch|Tische|m|big build wash on under
house|houses|Haus|Häuser|n|big build paint in near
bridge|bridges|Brücke|Brücken|f|big build on under
door|doors|Tür|Türen|f|open paint near
window|windows|Fenster|Fenster|n|open wash near
tree|trees|Baum|Bäume|m|under near
garden|gardens|Garten|Gärten|m|in
city|cities|Stadt|Städte|f|in visit
school|schools|Schule|Schulen|f|in near visit
kitchen|kitchens|Küche|Küchen|f|in
forest|forests|Wald|Wälder|m|in
village|villages|Dorf|Dörfer|n|in visit
room|rooms|Zimmer|Zimmer|n|in
shop|shops|Laden|Läden|m|in near
park|parks|Park|Parks|m|in
station|stations|Bahnhof|Bahnhöfe|m|near
mountain|mountains|Berg|Berge|m|on
river|rivers|Fluss|Flüsse|m|near""".splitlines()]
# (english 3sg, english base, german infinitive, german 3sg, frame, object categories)
VERBS = [v.split("|") for v in """sees|see|sehen|sieht|acc|person animal thing big
buys|buy|kaufen|kauft|acc|thing big
sells|sell|verkaufen|verkauft|acc|thing big
finds|find|finden|findet|acc|thing animal
reads|read|lesen|liest|acc|text
carries|carry|tragen|trägt|acc|thing
paints|paint|malen|malt|acc|paint
needs|need|brauchen|braucht|acc|thing big
opens|open|öffnen|öffnet|acc|open
washes|wash|waschen|wäscht|acc|wash animal
loves|love|lieben|liebt|acc|person animal
visits|visit|besuchen|besucht|acc|person visit
builds|build|bauen|baut|acc|build
has|have|haben|hat|acc|thing animal
takes|take|nehmen|nimmt|acc|thing
looks for|look for|suchen|sucht|acc|thing animal person
helps|help|helfen|hilft|dat|person
thanks|thank|danken|dankt|dat|person
follows|follow|folgen|folgt|dat|person animal
gives|give|geben|gibt|ditr|thing
shows|show|zeigen|zeigt|ditr|thing big
sends|send|schicken|schickt|ditr|text food
sleeps|sleep|schlafen|schläft|intr|
laughs|laugh|lachen|lacht|intr|
waits|wait|warten|wartet|intr|
sings|sing|singen|singt|intr|
works|work|arbeiten|arbeitet|intr|
plays|play|spielen|spielt|intr|
runs|run|laufen|läuft|intr|
eats|eat|essen|isst|intr|""".splitlines()]
ADJS = [a.split("|") for a in """old|alt|person thing big
young|jung|person
tired|müde|person
friendly|freundlich|person
happy|glücklich|person
small|klein|person thing big
big|groß|thing big
new|neu|thing big
red|rot|thing big
green|grün|thing big
black|schwarz|thing big animal
white|weiß|thing big animal
beautiful|schön|thing big
heavy|schwer|thing big""".splitlines()]
PREPS = [("in", "in", "in"), ("behind", "hinter", "near"), ("in front of", "vor", "near"),
         ("next to", "neben", "near"), ("under", "unter", "under"), ("on", "auf", "on"),
         ("with", "mit", "person animal")]
ADVERBS = [("today", "heute"), ("tomorrow", "morgen"), ("now", "jetzt"),
           ("sometimes", "manchmal"), ("in the evening", "am Abend"),
           ("in the morning", "am Morgen"), ("on Sunday", "am Sonntag")]
CONJS = [("because", "weil"), ("when", "wenn"), ("although", "obwohl"), ("while", "während")]
FRAMES = [("I think that", "Ich glaube, dass"), ("we know that", "wir wissen, dass"),
          ("she says that", "sie sagt, dass"), ("he hopes that", "er hofft, dass"),
          ("they believe that", "sie glauben, dass")]
DETS = [("the", None)] * 5 + [("a", None)] * 3 + [("my", "mein"), ("our", "unser"),
                                                  ("your", "dein")]
CASE = {"nom": 0, "acc": 1, "dat": 2}
DEF_ART = {"m": ("der", "den", "dem"), "f": ("die", "die", "der"), "n": ("das", "das", "dem"),
           "pl": ("die", "die", "den")}
EIN = {"m": ("", "en", "em"), "f": ("e", "e", "er"), "n": ("", "", "em"), "pl": ("e", "e", "en")}
WEAK = {"m": ("e", "en", "en"), "f": ("e", "e", "en"), "n": ("e", "e", "en"),
        "pl": ("en", "en", "en")}
MIXED = {"m": ("er", "en", "en"), "f": ("e", "e", "en"), "n": ("es", "es", "en"),
         "pl": ("en", "en", "en")}
STRONG_PL = ("e", "e", "en")


def _pick(r: random.Random, pool: list, cats: str) -> list:
    wanted = cats.split()
    return r.choice([x for x in pool if set(x[-1].split()) & set(wanted)])


def _np(r: random.Random, cats: str, case: str, prep: str = "",
        plural_ok: bool = True) -> tuple[str, str, str]:
    """A noun phrase as (english, german, person) for the given categories and German case."""
    noun = _pick(r, NOUNS, cats)
    en, en_pl, de, de_pl, g, _ = noun
    plural = plural_ok and r.random() < 0.25
    det, poss = r.choice(DETS)
    kinds = noun[5].split()
    adj_cats = "person" if "person" in kinds else "animal" if "animal" in kinds else "thing"
    adj = _pick(r, ADJS, adj_cats) if r.random() < 0.3 else None
    c = CASE[case]
    gg = "pl" if plural else g
    de_noun = de_pl if plural else de
    if plural and case == "dat" and not de_noun.endswith(("n", "s")):
        de_noun += "n"
    if det == "the":
        de_det, ending = DEF_ART[gg][c], WEAK[gg][c]
    elif det == "a":
        de_det, ending = ("", STRONG_PL[c]) if plural else ("ein" + EIN[g][c], MIXED[g][c])
        det = "" if plural else "a"
    else:
        de_det, ending = poss + EIN[gg][c], MIXED[gg][c]
    if prep == "in" and de_det == "dem":
        de_det, prep = "im", ""  # in dem -> im
    en_words = [w for w in (det, adj[0] if adj else "", en_pl if plural else en) if w]
    if en_words[0] == "a":
        en_words[0] = article(en_words[1])
    de_adj = ""
    if adj:
        de_adj = adj[1] + (ending[1:] if adj[1].endswith("e") else ending)
    de_words = [w for w in (prep, de_det, de_adj, de_noun) if w]
    return " ".join(en_words), " ".join(de_words), ("pl" if plural else "3sg")


def _clause(r: random.Random, nm: Names) -> dict:
    """Subject, verb and the rest of one clause, in both languages."""
    verb = r.choice(VERBS)
    en3, en_base, de_inf, de3, frame, cats = verb
    roll = r.random()
    if roll < 0.12:
        subj_en, subj_de, person = ("I", "ich", "1sg") if r.random() < 0.5 else ("we", "wir", "pl")
    elif roll < 0.3:
        name = nm.first()
        subj_en, subj_de, person = name, name, "3sg"
    else:
        animals_too = en_base in ("see", "find", "love", "follow", "sleep", "wait", "play", "run")
        subj_cats = "person animal" if animals_too else "person"
        subj_en, subj_de, person = _np(r, subj_cats, "nom")
    en_verb = en3 if person == "3sg" else en_base
    de_verb = de3 if person == "3sg" else (de_inf[:-1] if person == "1sg" else de_inf)
    rest_en, rest_de = [], []
    if frame == "acc":
        o = _np(r, cats, "acc")
        rest_en.append(o[0]), rest_de.append(o[1])
    elif frame == "dat":
        o = _np(r, cats, "dat")
        rest_en.append(o[0]), rest_de.append(o[1])
    elif frame == "ditr":
        io, do = _np(r, "person", "dat"), _np(r, cats, "acc")
        rest_en += [io[0], do[0]]
        rest_de += [io[1], do[1]]
    if frame == "intr" or r.random() < 0.3:
        p_en, p_de, p_cats = r.choice(PREPS)
        o = _np(r, p_cats, "dat", p_de, plural_ok=p_en == "with")
        rest_en.append(f"{p_en} {o[0]}")
        rest_de.append(o[1])
    return {"subj": (subj_en, subj_de), "verb": (en_verb, de_verb),
            "rest": (" ".join(rest_en), " ".join(rest_de))}


def _main(c: dict, adverb: tuple | None = None) -> tuple[str, str]:
    en = [c["subj"][0], c["verb"][0], c["rest"][0]]
    de = [c["subj"][1], c["verb"][1], c["rest"][1]]
    if adverb:  # verb second: the adverb takes the first place, the subject follows the verb
        en = [adverb[0]] + en
        de = [adverb[1], c["verb"][1], c["subj"][1], c["rest"][1]]
    return " ".join(w for w in en if w), " ".join(w for w in de if w)


def _sub(c: dict) -> tuple[str, str]:
    """A subordinate clause: German puts the finite verb last."""
    en = [c["subj"][0], c["verb"][0], c["rest"][0]]
    de = [c["subj"][1], c["rest"][1], c["verb"][1]]
    return " ".join(w for w in en if w), " ".join(w for w in de if w)


def iwslt(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """English -> German from a small grammar with a ~200-word lexicon, translated by rule.

    Learnable: one deterministic translation per sentence, a closed lexicon, names copied as
    they are. Not trivial: articles and adjective endings follow gender, case (dative after
    "helps", prepositions, "gives X Y") and number; a fronted adverb or a leading subordinate
    clause puts the verb before the subject (verb second); "because/when/that" clauses move
    the verb to the end; "in dem" contracts to "im"."""
    rows, seen = [], nm.taken
    while len(rows) < n:
        kind = r.random()
        if kind < 0.4:
            adverb = r.choice(ADVERBS) if r.random() < 0.35 else None
            en, de = _main(_clause(r, nm), adverb)
        elif kind < 0.7:
            conj = r.choice(CONJS)
            m_en, m_de = _main(_clause(r, nm))
            s_en, s_de = _sub(_clause(r, nm))
            en, de = f"{m_en} {conj[0]} {s_en}", f"{m_de}, {conj[1]} {s_de}"
        elif kind < 0.82:  # subordinate clause first: the main clause starts with its verb
            conj = r.choice(CONJS[:3])
            s_en, s_de = _sub(_clause(r, nm))
            c = _clause(r, nm)
            m_en, _ = _main(c)
            m_de = " ".join(w for w in (c["verb"][1], c["subj"][1], c["rest"][1]) if w)
            en, de = f"{conj[0]} {s_en}, {m_en}", f"{conj[1]} {s_de}, {m_de}"
        else:
            frame = r.choice(FRAMES)
            s_en, s_de = _sub(_clause(r, nm))
            en, de = f"{frame[0]} {s_en}", f"{frame[1]} {s_de}"
        en, de = cap(en) + ".", cap(de) + "."
        if en in seen:
            continue
        seen.add(en)
        rows.append({"translation": {"de": de, "en": en}})
    return rows


# -- cnn_dailymail -----------------------------------------------------------------------------
MONTHS = ["March", "April", "May", "June"]
QUOTES = ["It has been a hard year for everyone", "We are proud of what we have done",
          "Nobody expected this", "We will learn from it", "This is only the beginning",
          "People here are tired but hopeful", "It was a long day", "We knew it would be close"]


def _story(r: random.Random, nm: Names) -> tuple[str, str, str, list[str]]:
    """(dateline town, lead, outcome, fillers) of one short news story."""
    town, day, year = nm.place(), r.choice(DAYS), r.randint(1960, 2015)
    quote = f'"{r.choice(QUOTES)}," said {nm.person()}'
    topic = r.choice(["business", "sports", "election", "storm", "science", "film"])
    if topic == "business":
        firm, up = nm.company(), r.random() < 0.5
        trade = r.choice(["food", "steel", "software", "shipping", "energy"])
        lead = (f"{firm}, the {trade} company based in {town}, reported its yearly results "
                f"on {day}.")
        outcome = r.choice([
            f"Its profit {'rose' if up else 'fell'} by {r.randint(2, 60)} percent to "
            f"{r.randint(3, 900)} million dollars.",
            f"Sales {'grew' if up else 'dropped'} to {r.randint(3, 900)} million dollars, the "
            f"{'best' if up else 'worst'} result in {r.randint(3, 20)} years."])
        fillers = [f"The company was founded in {year} by {nm.person()}.",
                   f"It employs about {number(r.randint(2, 90) * 100)} people.",
                   f"Last year its profit {'fell' if up else 'rose'} by {r.randint(2, 60)} "
                   "percent.",
                   f"{quote}, its chief executive.",
                   f"The firm plans to open a new office in {nm.place()} next year.",
                   f"Rival firm {nm.company()} will report its own results next week."]
    elif topic == "sports":
        team, other, a = nm.team(), nm.team(), r.randint(2, 5)
        b = r.randint(0, a - 1)
        lead = f"{team} won the {nm.word(2, 2)} Cup on {day} after beating {other} in {town}."
        scorer = nm.person()
        how = "twice" if a > 2 and r.random() < 0.5 else "the winning goal"
        outcome = f"{scorer} scored {how} as {team} won the final {a}-{b}."
        fillers = [f"The two teams last met in the final in {year}.",
                   f"{other} had not lost a match since {r.choice(MONTHS)}.",
                   f"About {number(r.randint(5, 80) * 1000)} fans watched the game.",
                   f"{quote}, the coach of {team}.",
                   f"{team} also reached the final in {year + r.randint(1, 8)}.",
                   f"Tickets for the game sold out in {r.randint(2, 9)} hours."]
    elif topic == "election":
        winner, rival, p = nm.person(), nm.person(), r.randint(41, 68)
        lead = f"{winner} has been elected mayor of {town}."
        outcome = (f"{winner} won {p} percent of the vote, ahead of {rival} with "
                   f"{r.randint(20, 100 - p)} percent.")
        fillers = [f"Voting closed at {r.randint(6, 10)} o'clock on {day}.",
                   f"{rival} had led the polls for {r.randint(2, 9)} weeks.",
                   f"About {number(r.randint(5, 90) * 1000)} people voted, officials said.",
                   f"{winner} is a former {r.choice(JOBS)} who moved to {town} in {year}.",
                   f"{quote}, a local voter.",
                   f"The last mayor, {nm.person()}, served for {r.randint(4, 16)} years."]
    elif topic == "storm":
        storm = r.choice(["heavy storm", "snow storm", "strong wind", "flood"])
        lead = f"A {storm} hit {town} on {day}, closing roads and schools."
        outcome = r.choice([f"More than {number(r.randint(2, 90) * 100)} homes lost power, and "
                            f"{r.randint(2, 40)} people were hurt.",
                            f"The {storm} left {number(r.randint(2, 90) * 100)} homes without "
                            f"power for {r.randint(2, 5)} days."])
        fillers = [f"Forecasters had warned of the {storm} for {r.randint(2, 6)} days.",
                   f"The last {storm} this bad hit the region in {year}.",
                   f"Schools will stay closed until {r.choice(DAYS)}.",
                   f"{quote}, a town official.",
                   f"Trains between {town} and {nm.place()} were cancelled.",
                   f"Volunteers handed out {r.randint(2, 90) * 10} blankets at the town hall."]
    elif topic == "science":
        animal = (f"{nm.word(2, 2).lower()} "
                  f"{r.choice(['frog', 'beetle', 'bird', 'snake', 'fish', 'bat'])}")
        lead = (f"Researchers at the University of {town} have found a new kind of {animal} "
                f"in the {nm.word(2, 2)} Forest.")
        outcome = (f"The team counted {r.randint(12, 400)} of the animals over "
                   f"{r.randint(2, 18)} months.")
        fillers = [f"The {animal} is about {r.randint(2, 40)} centimetres long.",
                   f"{nm.person()}, who led the study, has worked in the forest since {year}.",
                   f"{quote}, a member of the team.",
                   f"The study was paid for by {nm.company()}.",
                   f"The forest covers about {number(r.randint(2, 90) * 100)} square kilometres.",
                   f"A similar {animal.split()[-1]} was found there in {year + r.randint(1, 9)}."]
    else:
        title, director = nm.title(), nm.person()
        lead = f"{title}, the new film by {director}, opened in cinemas on {day}."
        outcome = (f"It earned {r.randint(2, 90)} million dollars in its first week, more than "
                   "any other film.")
        fillers = [f"The film was shot in {town} over {r.randint(2, 14)} months.",
                   f"{director}'s last film came out in {year}.",
                   f"It stars {nm.person()} as a {r.choice(JOBS)} who returns home.",
                   f"{quote}, a critic.",
                   f"The film is about {r.randint(90, 170)} minutes long.",
                   f"It will open in {nm.place()} next month."]
    return town, lead, outcome, fillers


def cnn_dailymail(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Six kinds of short news story (5-7 sentences); the highlights are the lead sentence and
    the sentence that states the outcome with its figure, in the " ." style of HF 3.0.0.

    Learnable: six story shapes, each with a fixed kind of key sentence. Not trivial: the
    outcome sentence sits anywhere after the lead, and the fillers around it carry numbers,
    names and quotes too (a "last year" profit, a founding year, a crowd size)."""
    rows = []
    while len(rows) < n:
        town, lead, outcome, fillers = _story(r, nm)
        body = r.sample(fillers, r.randint(3, 5))
        body.insert(r.randint(0, len(body)), outcome)
        lead, outcome = fix_articles(lead), fix_articles(outcome)
        body = [fix_articles(x) for x in body]
        text = f"{town.upper()} (CNN) -- " + " ".join([lead] + body)
        highlights = "\n".join(s[:-1] + " ." for s in (lead, outcome))
        url = f"http://www.cnn.com/mini/{split}/{len(rows)}/{town.lower()}"
        rows.append({"article": text, "highlights": highlights,
                     "id": hashlib.sha1(url.encode()).hexdigest()})
    return rows


# -- multinli ----------------------------------------------------------------------------------
ANIMALS = ["dog", "cat", "horse", "rabbit", "goat", "duck", "pig"]
PEOPLE = ["man", "woman", "boy", "girl", "doctor", "teacher", "farmer", "student"]
# Within a kind no two actions can be done at once, so any other action contradicts the
# premise's and its negation is entailed. "Short" forms drop the object (entailed) and can be
# premises too, where adding the object back is neutral.
ACTS = {"animal": ["sleeping", "running", "eating", "drinking water"],
        "person": ["sleeping", "running", "swimming", "driving a car", "riding a bike",
                   "cooking dinner", "playing the piano", "climbing a tree"]}
SHORT = {"drinking water": "drinking", "driving a car": "driving", "riding a bike": "riding",
         "cooking dinner": "cooking", "climbing a tree": "climbing"}
LOOKS = {"animal": [("old", "young"), ("small", "big"), ("black", "white")],  # antonym pairs
         "person": [("old", "young"), ("tall", "short")]}
PLACES = ["in the park", "near the river", "on the hill", "behind the house", "in the village",
          "by the lake"]
EXTRAS = ["in the morning", "for an hour", "with a friend", "again", "at night"]
REASONS = ["tired", "hungry", "happy", "bored", "cold"]
# (object, property, its opposite, two unrelated properties); the first pair can't both hold.
PROPS = [p.split() for p in """soup hot cold tasty salty
tea hot cold sweet strong
door open closed red wooden
window open closed large dirty
shop open closed busy small
lamp on off new cheap
radio on off old small
glass full empty clean small
box full empty red large
street wet dry long narrow
towel wet dry blue soft
room dark bright small tidy
bus full empty late red
road busy quiet wide long
bread fresh stale cheap brown""".splitlines()]
PROP_PLACES = ["in the kitchen", "in the hall", "near the door", "near the station",
               "in the square"]
GENRES = ["fiction", "government", "slate", "telephone", "travel"]
DETAILS = ("adj", "place", "extra", "why")
# How often each rule is picked where it applies, chosen so that no word of the hypothesis
# alone leans much towards a label; "keep" is the chance an unchanged detail stays.
W_NLI = {"drop": 1, "hypernym": 0.6, "not-other": 0.8, "state": 1.5, "negation": 0.5,
         "other-action": 1, "add": 1, "hypernym-add": 0.6, "hyponym": 1, "state-n": 1.2,
         "not-n": 0.8, "add-why": 0.3, "keep": 0.7, "keep-n": 0.5}


def _scene(r: random.Random, nm: Names, kind: str | None = None) -> dict:
    """Someone or something doing something, with up to four details: how it looks, where,
    when or with whom, and why. A "general" scene names only the kind ("An animal",
    "Someone")."""
    kind = kind or r.choice(["animal", "person"])
    noun = r.choice(ANIMALS if kind == "animal" else PEOPLE)
    if kind == "person" and r.random() < 0.3:
        noun = nm.first()
    general = noun[0].islower() and r.random() < 0.35
    act = r.choice(ACTS[kind])
    if act in SHORT and r.random() < 0.25:
        act = SHORT[act]
    pron = "it" if kind == "animal" else {"man": "he", "boy": "he", "woman": "she",
                                           "girl": "she"}.get(noun, r.choice(["he", "she"]))
    looks = LOOKS[kind][1:] if noun in ("boy", "girl") else LOOKS[kind]
    adj = None
    if noun[0].islower() and not general and r.random() < 0.4:
        adj = list(r.choice(looks))
        r.shuffle(adj)
    return {"kind": kind, "noun": noun, "general": general, "pron": pron, "looks": looks,
            "adj": adj[0] if adj else None, "anti": adj[1] if adj else None, "act": act,
            "place": r.choice(PLACES) if r.random() < 0.45 else None,
            "extra": r.choice(EXTRAS) if r.random() < 0.35 else None,
            "why": r.choice(REASONS) if r.random() < 0.3 and not (
                general and kind == "person") else None}


def _subject(s: dict) -> str:
    if s["general"]:
        return "An animal" if s["kind"] == "animal" else "Someone"
    if s["noun"][0].isupper():
        return s["noun"]
    adj = f"{s['adj']} " if s["adj"] else ""
    return f"{cap(article(adj or s['noun']))} {adj}{s['noun']}" if s.get("indefinite") \
        else f"The {adj}{s['noun']}"


def _say(s: dict, *changes: dict, **change) -> str:
    """Render a scene, with some of its parts changed (later changes win), as one sentence."""
    for c in changes + (change,):
        s = {**s, **c}
    text = f"{_subject(s)} is {'not ' if s.get('neg') else ''}{s['act']}"
    text += "".join(f" {s[k]}" for k in ("place", "extra") if s.get(k))
    text += f" because {s['pron']} is {s['why']}" if s.get("why") else ""
    return text + "."


def _state(s: dict, word: str, neg: bool = False) -> str:
    """'The dog is (not) old.': a predicate about the scene's subject, without details."""
    return f"{_subject({**s, 'adj': None})} is {'not ' if neg else ''}{word}."


def _some(r: random.Random, s: dict, keep: float, skip: tuple = ()) -> dict:
    """Changes that drop each of the scene's details with probability 1 - keep, and always
    those named in skip."""
    return {k: None for k in DETAILS if s[k] and (k in skip or r.random() >= keep)}


def _pick_rule(r: random.Random, candidates: list[tuple[float, str, str]]) -> tuple[str, str]:
    """One (rule, hypothesis) of weighted candidates."""
    weights = [w for w, _, _ in candidates]
    _, rule, text = r.choices(candidates, weights)[0]
    return rule, text


def _scene_hypotheses(r: random.Random, s: dict) -> dict[int, tuple[str, str]]:
    """An entailed (0), a neutral (1) and a contradicted (2) hypothesis about scene s, each
    with the name of the rule that relates it to the premise, word by word:

    entailment: drop one or more details ("drop"), name only the kind ("hypernym": The dog ->
      An animal, Koushak -> Someone), negate an action the premise excludes ("not-other":
      sleeping -> not running), or state a detail ("state": The old dog -> The dog is old / is
      not young; because it is tired -> The dog is tired);
    contradiction: insert "not" ("negation"), change the action ("other-action"), or state the
      opposite of a detail ("state": The old dog -> The dog is young / is not old; because it
      is tired -> The dog is not tired);
    neutral: add a detail the premise lacks ("add"; also with the kind only, "hypernym-add"),
      name a specific noun where the premise has only the kind ("hyponym"), or state a look or
      feeling the premise does not give, either way ("state").
    Every label may also drop other details, and the weights below keep "not", kind words and
    detail words about as common under each label, so the hypothesis alone says little."""
    acts = [a for a in ACTS[s["kind"]] if a != s["act"] and a != SHORT.get(s["act"])
            and SHORT.get(a) != s["act"]]
    other = r.choice(acts)
    have = [k for k in DETAILS if s[k]]
    adj_ok = s["noun"][0].islower() and not s["general"]
    e, n, c = [], [], []
    if have or s["act"] in SHORT:
        drop = [r.choice(have)] if have else []
        short = {"act": SHORT[s["act"]]} if s["act"] in SHORT and (not have or r.random() < .5) \
            else {}
        e.append((W_NLI["drop"], "drop", _say(s, {k: None for k in drop}, short)))
    if not s["general"]:
        e.append((W_NLI["hypernym"], "hypernym",
                  _say(s, _some(r, s, W_NLI["keep"]), general=True, adj=None)))
    e.append((W_NLI["not-other"], "not-other",
              _say(s, _some(r, s, W_NLI["keep"], ("why",)), act=other, neg=True)))
    if s["adj"]:
        e.append((W_NLI["state"], "state", _state(s, s["adj"]) if r.random() < 0.5 else
                  _state(s, s["anti"], neg=True)))
    if s["why"]:
        e.append((W_NLI["state"], "state", _state(s, s["why"])))
    c.append((W_NLI["negation"], "negation",
              _say(s, _some(r, s, W_NLI["keep"], ("why",)), neg=True)))
    c.append((W_NLI["other-action"], "other-action",
              _say(s, _some(r, s, W_NLI["keep"]), act=other)))
    if s["adj"]:
        c.append((W_NLI["state"], "state", _state(s, s["anti"]) if r.random() < 0.5 else
                  _state(s, s["adj"], neg=True)))
    if s["why"]:
        c.append((W_NLI["state"], "state", _state(s, s["why"], neg=True)))
    # neutral: one detail the premise does not have
    missing = [k for k in DETAILS if not s[k] and (k != "adj" or adj_ok)
               and (k != "why" or not (s["general"] and s["kind"] == "person"))]
    if s["act"] in SHORT.values():
        missing.append("object")

    def added(k: str) -> dict:
        if k == "object":
            return {"act": next(a for a, b in SHORT.items() if b == s["act"])}
        if k == "adj":
            return {"adj": r.choice(r.choice(s["looks"]))}
        return {k: r.choice({"place": PLACES, "extra": EXTRAS, "why": REASONS}[k])}
    if missing:
        k = r.choices(missing, [W_NLI.get(f"add-{m}", 1) for m in missing])[0]
        n.append((W_NLI["add"], "add", _say(s, _some(r, s, W_NLI["keep-n"]), added(k))))
        if not s["general"] and k != "adj" and k != "object":
            n.append((W_NLI["hypernym-add"], "hypernym-add",
                      _say(s, _some(r, s, W_NLI["keep-n"]), added(k), general=True, adj=None)))
    if s["general"]:
        noun = r.choice(ANIMALS if s["kind"] == "animal" else PEOPLE)
        pron = {"man": "he", "boy": "he", "woman": "she", "girl": "she"}.get(noun, s["pron"])
        n.append((W_NLI["hyponym"], "hyponym", _say(s, _some(r, s, W_NLI["keep-n"]),
                                                    general=False, indefinite=True, noun=noun,
                                                    pron=pron)))
    unstated = ([w for pair in s["looks"] for w in pair] if adj_ok and not s["adj"] else []) + \
        ([w for w in REASONS if w != s["why"]] if not s["general"] or s["kind"] == "animal"
         else [])
    if unstated:
        n.append((W_NLI["state-n"], "state",
                  _state(s, r.choice(unstated), neg=r.random() < W_NLI["not-n"])))
    return {0: _pick_rule(r, e), 1: _pick_rule(r, n), 2: _pick_rule(r, c)}


def _prop_pair(r: random.Random, obj: str, a: str, b: str, x: str,
               y: str) -> tuple[str, dict[int, tuple[str, str]]]:
    """'The (red) door (in the hall) is open.' and its three hypotheses: entailed by dropping a
    detail, stating it, or negating the opposite ("not closed"); contradicted by the opposite
    ("closed") or by negation ("not open"); neutral by a property or place the premise does
    not give (either way)."""
    p, q = (a, b) if r.random() < 0.5 else (b, a)
    x, y = (x, y) if r.random() < 0.5 else (y, x)
    said = r.random() < 0.5  # the premise may mention one unrelated property
    where = r.choice([w for w in PROP_PLACES if obj not in w]) if r.random() < 0.5 else ""
    premise = f"The {x + ' ' if said else ''}{obj}{' ' + where if where else ''} is {p}."
    the = f"The {obj}"
    e = [("not-opposite", f"{the} is not {q}.")]
    if said or where:
        e.append(("drop", f"{the} is {p}."))
    if said:
        e.append(("state", f"{the} is {x}."))
    c = [("opposite", f"{the} is {q}."),
         ("negation", f"The {x + ' ' if said and r.random() < 0.5 else ''}{obj} is not {p}.")]
    unknown = [y] if said else [x, y]
    n = [("state", f"{the} is {'not ' if r.random() < 0.5 else ''}{r.choice(unknown)}."),
         ("add", f"The {r.choice(unknown)} {obj} is {p}.")]
    if not where:
        n.append(("add", f"{the} {r.choice([w for w in PROP_PLACES if obj not in w])} is {p}."))
    return premise, {0: r.choice(e), 1: r.choice(n), 2: r.choice(c)}


def multinli(r: random.Random, nm: Names, n: int, split: str,
             stats: Counter | None = None) -> list[dict]:
    """Three hypotheses (entailment, neutral, contradiction) for each premise, as in MNLI.

    Learnable: the label can be read off by comparing the hypothesis with the (matching
    sentence of the) premise word by word, with a few rules and a small lexicon of kinds and
    exclusions (see ``_scene_hypotheses`` and ``_prop_pair``; the tests check every row):
    - no "not", and every content word is in the premise or is the kind of its subject
      ("An animal", "Someone") -> entailment;
    - no "not", and a new word excludes one of the premise's (closed/open, young/old, running/
      sleeping) -> contradiction; any other new word (a place, a look, a feeling, a specific
      noun where the premise has only the kind) -> neutral;
    - "X is not W": W in the premise -> contradiction; W excluded by the premise -> entailment;
      otherwise -> neutral.
    A quarter of the premises give an object's property ("The door is open."), the rest a
    person or animal doing something. About 20% join two scenes (a person and an animal, or a
    scene and an object) and the hypothesis is about one of them: the harder part, where the
    sentence about the hypothesis' subject has to be found first.
    Not readable from the hypothesis alone (naive Bayes on its words is near chance): "not"
    sits under all three labels ("not running" when the premise is "sleeping", "not hungry"
    when it gives no feeling), kind words ("An animal", "Someone") too, and every label may
    drop details. ``stats`` (if given) counts the rules and premise shapes used."""
    rows, prompt = [], 100000 if split == "train" else 900000
    while len(rows) < n:
        prompt += 1
        two = r.random() < 0.18
        if r.random() < 0.25:
            premise, hyps = _prop_pair(r, *r.choice(PROPS))
            if two:
                other = _say(_scene(r, nm))
                premise = f"{other} {premise}" if r.random() < 0.5 else f"{premise} {other}"
        else:
            s = _scene(r, nm)
            premise, hyps = _say(s), _scene_hypotheses(r, s)
            if two:  # the other scene is of the other kind, so no hypothesis can fit it
                if r.random() < 0.3:
                    other, _ = _prop_pair(r, *r.choice(PROPS))
                else:
                    other = _say(_scene(r, nm, "person" if s["kind"] == "animal" else "animal"))
                premise = f"{other} {premise}" if r.random() < 0.5 else f"{premise} {other}"
        if premise in nm.taken:
            continue
        nm.taken.add(premise)
        if stats is not None:
            stats["two scenes" if two else "one scene"] += 3
            for label in (0, 1, 2):
                stats[f"{'enc'[label]}:{hyps[label][0]}"] += 1
        genre = r.choice(GENRES)
        for label in r.sample([0, 1, 2], 3):
            rows.append({"promptID": prompt, "pairID": f"{prompt}{'enc'[label]}",
                         "premise": premise, "premise_binary_parse": "", "premise_parse": "",
                         "hypothesis": hyps[label][1], "hypothesis_binary_parse": "",
                         "hypothesis_parse": "", "genre": genre, "label": label})
    return rows[:n]


# -- sst2 --------------------------------------------------------------------------------------
POSITIVE = ["charming", "brilliant", "moving", "funny", "gripping", "beautiful", "clever",
            "delightful", "touching", "smart", "engaging", "fresh", "witty", "stunning", "warm",
            "powerful", "inventive", "thoughtful", "enjoyable", "lovely", "wonderful", "sharp"]
NEGATIVE = ["dull", "boring", "clumsy", "tedious", "flat", "lifeless", "silly", "predictable",
            "messy", "bland", "tiresome", "shallow", "forced", "awkward", "pointless", "stale",
            "weak", "confusing", "lazy", "cheap", "hollow", "slow"]
ASPECTS = [("the film", 0), ("the movie", 0), ("the plot", 0), ("the script", 0), ("the acting", 0),
           ("the story", 0), ("the ending", 0), ("the dialogue", 0), ("the soundtrack", 0),
           ("the direction", 0), ("the humor", 0), ("the pacing", 0), ("its premise", 0),
           ("the final act", 0), ("the lead performance", 0), ("the cast", 0), ("the jokes", 1),
           ("the characters", 1), ("the performances", 1), ("the action scenes", 1)]
KINDS = ["film", "movie", "comedy", "drama", "thriller", "story", "debut", "documentary", "romance"]
# Neutral filler, drawn independently of the label.
SST_OPENERS = ["overall , ", "in the end , ", "for the most part , ", "on the whole , ",
               "at two hours , ", "as a family film , ", "for a first feature , "]
SST_TAILS = [" about two brothers", " set in a small town", " based on a true story",
             " about a family on holiday", " from a new director", " shot in black and white",
             " about life at sea", " with a young cast"]
# The words that mark the two hard shapes (the tests sort reviews by them); filler has none.
NEGATORS = ["not", "n't", "never", "hardly", "nothing", "neither", "nor", "far"]
CONTRASTS = ["but", "although", "though"]  # "even though" ends in "though"
ASPECTS_BE = [(aspect, "are" if plural else "is", bool(plural)) for aspect, plural in ASPECTS]
UNCOUNTED = ["acting", "dialogue", "humor", "pacing", "direction"]


def _aspect(r: random.Random) -> tuple[str, str, bool]:
    return r.choice(ASPECTS_BE)


def _direct(r: random.Random, nm: Names, polarity: int) -> str:
    """Two or three sentiment words, all of one polarity, in one of several shapes."""
    a1, a2, a3 = r.sample(POSITIVE if polarity else NEGATIVE, 3)
    (x, be, plural), (y, be2, _) = r.sample(ASPECTS_BE, 2)
    very = r.choice(["", "", "", "very ", "rather ", "truly ", "quite "])
    kind = r.choice(KINDS)
    noun = x.split(" ", 1)[1]
    with_ = f"{a2} {noun}" if plural or noun in UNCOUNTED else f"{article(a2)} {a2} {noun}"
    return r.choice([
        f"{x} {be} {very}{a1} and {a2}",
        f"{article(a1)} {a1} , {a2} {kind}{r.choice(SST_TAILS)}",
        f"{x} {be} {very}{a1} , and {y} {be2} {a2}",
        f"{x} {'feel' if plural else 'feels'} {very}{a1} and {y} {be2} {a2}",
        f"it 's {article(a1)} {a1} {kind} with {with_}",
        f"{nm.person().lower()} 's new {kind} is {a1} , {a2} and {a3}",
        f"{a1} , {a2} and {very}{a3}",
        f"{article(a1)} {very}{a1} {kind}{r.choice(SST_TAILS)} , and {x} {be} {a2}"])


def _negated(r: random.Random, polarity: int) -> str:
    """One or two words of the *opposite* polarity, each under a negator: "never dull" is
    positive, "not clever" negative."""
    a1, a2 = r.sample(NEGATIVE if polarity else POSITIVE, 2)
    (x, be, _), (y, be2, _) = r.sample(ASPECTS_BE, 2)
    kind = r.choice(KINDS)
    return r.choice([
        f"{x} {be} not {a1}", f"{x} {be} n't {a1}", f"{x} {be} never {a1}",
        f"{x} {be} hardly {a1}", f"there is nothing {a1} about {x}",
        f"it 's not {article(a1)} {a1} {kind}", f"{x} {be} far from {a1}",
        f"{x} {be} neither {a1} nor {a2}", f"{x} {be} not {a1} , and {y} {be2} never {a2}"])


def _sst_clause(r: random.Random, polarity: int) -> str:
    """One plain clause with one sentiment word, for the contrast shapes."""
    adj = r.choice(POSITIVE if polarity else NEGATIVE)
    x, be, plural = _aspect(r)
    very = r.choice(["", "", "very ", "rather ", "truly ", "quite "])
    return r.choice([f"{x} {be} {very}{adj}", f"it 's {article(adj)} {adj} {r.choice(KINDS)}",
                     f"{x} {'feel' if plural else 'feels'} {very}{adj}"])


def _contrast(r: random.Random, label: int) -> str:
    """Two clauses of opposite polarity, one sentiment word each; the clause after "but", or
    the main clause around "although"/"even though", decides wherever it stands."""
    form = r.randrange(4)
    if form == 0:
        return f"{_sst_clause(r, 1 - label)} , but {_sst_clause(r, label)}"
    if form == 1:
        return f"although {_sst_clause(r, 1 - label)} , {_sst_clause(r, label)}"
    if form == 2:
        return f"{_sst_clause(r, label)} , even though {_sst_clause(r, 1 - label)}"
    good, bad = r.choice(POSITIVE), r.choice(NEGATIVE)
    first, last = (bad, good) if label else (good, bad)
    aspect, be, plural = _aspect(r)
    start, end = ("start", "end") if plural else ("starts", "ends")
    return r.choice([f"{aspect} {be} {first} at first but {last} by the end",
                     f"{aspect} {start} {first} but {end} {last}"])


def sst2(r: random.Random, nm: Names, n: int, split: str,
         stats: Counter | None = None) -> list[dict]:
    """Movie-review sentences in SST's lower-cased tokenised style, labels balanced.

    Like real SST, most reviews say what they mean: ~62% ("direct") carry two or three
    sentiment words of the label's polarity (of 44, 22 a side), in eight shapes, sometimes with
    neutral filler ("overall ,", "set in a small town") drawn regardless of the label, so a
    bag-of-words naive Bayes model gets these right and reaches ~72% overall (real SST-2: ~80%).
    The rest keep the phenomena a bag of words cannot read, in about equal parts: ~19% negate
    one or two words of the *opposite* polarity ("never dull", "neither clever nor funny";
    "not" sits in both labels), and ~19% join two clauses of opposite polarity, one sentiment
    word each, where the clause after "but", or the main clause around "although"/"even
    though", decides wherever it stands. Through these two, every sentiment word occurs under
    both labels. ``stats`` (if given) counts the shapes."""
    rows = []
    while len(rows) < n:
        label = len(rows) % 2
        form = r.random()
        kind = "direct" if form < 0.625 else "negation" if form < 0.82 else "contrast"
        text = {"direct": lambda: _direct(r, nm, label), "negation": lambda: _negated(r, label),
                "contrast": lambda: _contrast(r, label)}[kind]()
        if r.random() < 0.2:
            text = r.choice(SST_OPENERS) + text
        text = fix_articles(text) + " . "
        if text in nm.taken:
            continue
        nm.taken.add(text)
        if stats is not None:
            stats[kind] += 1
        rows.append({"sentence": text, "label": label, "idx": len(rows)})
    order = list(range(len(rows)))
    r.shuffle(order)
    return [{**rows[i], "idx": k} for k, i in enumerate(order)]


# -- qa_srl ------------------------------------------------------------------------------------
# (past, lemma, participle, object kind, preposition of the second participant)
SRL_VERBS = [v.split("|") for v in """bought|buy|bought|thing|from
sold|sell|sold|thing|to
gave|give|given|thing|to
sent|send|sent|thing|to
lent|lend|lent|thing|to
borrowed|borrow|borrowed|thing|from
stole|steal|stolen|thing|from
delivered|deliver|delivered|thing|to
ordered|order|ordered|thing|from
repaired|repair|repaired|fixable|
painted|paint|painted|structure|
built|build|built|structure|
cleaned|clean|cleaned|structure|
found|find|found|thing|
wrote|write|written|text|to
cooked|cook|cooked|food|for
met|meet|met|person|
hired|hire|hired|person|
called|call|called|person|
visited|visit|visited|person|
arrived|arrive|arrived||
left|leave|left||
waited|wait|waited||""".splitlines()]
SRL_OBJECTS = {
    "thing": ["a red bicycle", "the old car", "three books", "a small boat", "a wooden table",
              "the blue lamp", "a new piano", "two paintings", "a silver watch", "the radio",
              "a camera", "ten chairs", "a green jacket", "the map", "a box of tools", "the keys"],
    "fixable": ["the old car", "the radio", "a red bicycle", "the roof", "the fence",
                "the kitchen window", "the blue lamp", "a broken clock", "the heater"],
    "structure": ["a small house", "the garden fence", "a wooden shed", "the bridge",
                  "a stone wall", "the old school", "the roof", "a new barn", "the kitchen"],
    "text": ["a letter", "a long report", "a short song", "a poem", "an email", "a book"],
    "food": ["dinner", "a large cake", "fish soup", "breakfast", "fresh bread", "a pie"]}
SRL_REASONS = ["the shop was closed", "it was cheap", "the price was low", "the weather was bad",
               "the train was late", "money was short"]


def _srl_clause(r: random.Random, nm: Names, people: list[str]) -> tuple[list[str], int, list]:
    """Tokens of one clause, the predicate's token index and its (question slots, answer) list."""
    past, lemma, part, obj_kind, prep = r.choice(SRL_VERBS)
    agent = r.choice(people) if people and r.random() < 0.4 else nm.person()
    people.append(agent)
    obj = {"": "_", "person": "someone"}.get(obj_kind, "something")
    toks, qs = agent.split() + [past], [(["who", "_", "_", past, obj, "_", "_", "?"], agent)]
    if obj_kind:
        theme = nm.person() if obj_kind == "person" else r.choice(SRL_OBJECTS[obj_kind])
        wh = "who" if obj_kind == "person" else "what"
        toks += theme.split()
        qs.append((r.choice([[wh, "did", "someone", lemma, "_", "_", "_", "?"],
                             [wh, "was", "_", part, "_", "_", "_", "?"]]), theme))
        if prep and r.random() < 0.7:
            other = nm.person()
            people.append(other)
            toks += [prep] + other.split()
            qs.append((["who", "did", "someone", lemma, obj, prep, "_", "?"], other))
    some = [obj]
    if r.random() < 0.6:
        town = nm.place()
        toks += ["in", town]
        qs.append((["where", "did", "someone", lemma] + some + ["_", "_", "?"], town))
    if r.random() < 0.5:
        when = r.choice([["on", r.choice(DAYS)], ["in", str(r.randint(1950, 2020))],
                         ["last", "week"], ["last", "year"], ["yesterday"]])
        toks += when
        answer = " ".join(when[1:]) if when[0] in ("on", "in") else " ".join(when)
        qs.append((["when", "did", "someone", lemma] + some + ["_", "_", "?"], answer))
    if obj_kind and r.random() < 0.15:
        reason = r.choice(SRL_REASONS)
        toks += ["because"] + reason.split()
        qs.append((["why", "did", "someone", lemma] + some + ["_", "_", "?"], reason))
    return toks, len(agent.split()), qs


def qa_srl(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Questions about the arguments of a sentence's verbs, in QA-SRL's 7 slots plus "?".

    Learnable: 23 verbs, each with its own participants (a buyer, a seller, a place, a time),
    every answer a span of the sentence. Not trivial: most sentences have two clauses with two
    predicates and several people, towns and times, so "who sold something?" and "where did
    someone repair something?" must be tied to the right verb (the row's predicate)."""
    rows, sid = [], 0
    while len(rows) < n:
        people: list[str] = []
        first, p1, q1 = _srl_clause(r, nm, people)
        toks, preds = list(first), [(p1, q1)]
        if r.random() < 0.6:
            second, p2, q2 = _srl_clause(r, nm, people)
            link = r.choice([[",", "and"], ["after"], ["before"], [",", "while"]])
            preds.append((len(toks) + len(link) + p2, q2))
            toks += link + second
        sentence = " ".join(toks + ["."])
        sid += 1
        asked = [(idx, q, a) for idx, qs in preds for q, a in qs]
        for idx, q, a in r.sample(asked, min(len(asked), r.randint(2, 4))):
            assert a in sentence
            rows.append({"sentence": sentence, "sent_id": f"MINI_{split.upper()}_{sid}",
                         "predicate_idx": idx, "predicate": toks[idx], "question": q,
                         "answers": [a]})
    return rows[:n]


# -- qa_zre ------------------------------------------------------------------------------------
# One relation per block: "name; subject kind; object kind", its two question templates, its two
# statements ({s} subject, {o} object; {year} {job} {p} {poss} {child} {sib} are filled in).
RELATION_TABLE = """
place of birth; person; place
    Where was XXX born? | In which town was XXX born?
    {s} was born in {o}. | {s} was born in the town of {o}.
date of birth; person; year
    When was XXX born? | In what year was XXX born?
    {s} was born in {o}. | {s} was born in the year {o}.
place of death; person; place
    Where did XXX die? | In which town did XXX die?
    {s} died in {o}. | {s} later moved to {o}, where {p} died.
father; person; person
    Who is XXX's father? | Who was the father of XXX?
    {s} is the {child} of {o}, a {job}. | {o}, the father of {s}, was a {job}.
mother; person; person
    Who is XXX's mother? | Who was the mother of XXX?
    {s}'s mother, {o}, was a {job}. | {s} was raised by {poss} mother, {o}.
spouse; person; person
    Who is XXX married to? | Who is the spouse of XXX?
    {s} married {o} in {year}. | {s} is married to {o}.
employer; person; company
    Who does XXX work for? | Which company employs XXX?
    {s} works for {o}. | {s} took a job at {o} in {year}.
educated at; person; university
    Where did XXX study? | Which university did XXX attend?
    {s} studied at the {o}. | {s} graduated from the {o} in {year}.
occupation; person; job
    What is XXX's job? | What does XXX do for a living?
    {s} works as a {o}. | {s} is a {o} by trade.
country of citizenship; person; country
    What country is XXX a citizen of? | Which country's passport does XXX hold?
    {s} is a citizen of {o}. | {s} holds a passport from {o}.
sibling; person; person
    Who is XXX's sibling? | Who is the brother or sister of XXX?
    {s} has a {sib} named {o}. | {s} grew up with {poss} {sib} {o}.
instrument; musician; instrument
    What instrument does XXX play? | Which instrument is played by XXX?
    {s} plays the {o}. | {s} is known for playing the {o}.
member of; musician; band
    Which band is XXX a member of? | What group does XXX belong to?
    {s} is a member of the band {o}. | {s} joined the band {o} in {year}.
member of sports team; athlete; team
    Which team does XXX play for? | What team is XXX a member of?
    {s} plays for {o}. | {s} joined {o} in {year}.
position played on team / speciality; athlete; position
    What position does XXX play? | In which position does XXX play?
    {s} plays as a {o}. | {s} usually plays as a {o}.
founded by; company; person
    Who founded XXX? | Who is the founder of XXX?
    {s} was founded by {o}. | {o} started {s} in a small office.
inception; company; year
    When was XXX founded? | In what year was XXX established?
    {s} was founded in {o}. | {s} has existed since {o}.
headquarters location; company; place
    Where is XXX based? | Where are the headquarters of XXX?
    {s} has its headquarters in {o}. | {s} is based in {o}.
industry; company; industry
    What industry is XXX in? | In which industry does XXX work?
    {s} is a company in the {o} industry. | {s} works in the {o} business.
chief executive officer; company; person
    Who is the chief executive of XXX? | Who runs XXX?
    {o} is the chief executive of {s}. | {s} is led by {o}.
country; city; country
    Which country is XXX in? | In what country is XXX located?
    {s} is a town in {o}. | {s} lies in the north of {o}.
located next to body of water; city; river
    Which river does XXX lie on? | What river flows through XXX?
    {s} lies on the {o}. | The {o} flows through {s}.
population; city; count
    How many people live in XXX? | What is the population of XXX?
    {s} has a population of {o}. | About {o} people live in {s}.
head of government; city; person
    Who is the mayor of XXX? | Who governs XXX?
    The mayor of {s} is {o}. | {o} was elected mayor of {s} in {year}.
author; book; person
    Who wrote XXX? | Who is the author of XXX?
    {s} is a novel by {o}. | {s} was written by {o}.
publication date; book; year
    When was XXX published? | In what year did XXX come out?
    {s} was published in {o}. | {s} first came out in {o}.
genre; book; genre
    What genre is XXX? | What kind of book is XXX?
    {s} is a {o} novel. | {s} is usually described as {o}.
publisher; book; press
    Who published XXX? | Which company published XXX?
    {s} was published by {o}. | {o} printed the first edition of {s}.
capital; country; place
    What is the capital of XXX? | Which city is the capital of XXX?
    The capital of {s} is {o}. | {o} is the capital of {s}.
currency; country; currency
    What currency does XXX use? | What is the currency of XXX?
    {s} uses the {o} as its currency. | People in {s} pay with the {o}.
official language; country; language
    What language is spoken in XXX? | What is the official language of XXX?
    The official language of {s} is {o}. | Most people in {s} speak {o}.
"""
# relation -> (subject kind, question templates, statements, object kind)
_blocks = RELATION_TABLE.strip().splitlines()
RELATIONS = {head.split("; ")[0]: (head.split("; ")[1], qs.strip().split(" | "),
                                   says.strip().split(" | "), head.split("; ")[2])
             for head, qs, says in zip(_blocks[::3], _blocks[1::3], _blocks[2::3])}
# Held out of training entirely (questions and statements): validation is zero-shot.
ZRE_UNSEEN = ["place of death", "mother", "instrument", "inception", "headquarters location",
              "publisher", "currency"]
ZRE_POOLS = {"person": ["person"], "musician": ["person", "musician"],
             "athlete": ["person", "athlete"],
             "company": ["company"], "city": ["city"], "book": ["book"], "country": ["country"]}


def _zre_object(kind: str, r: random.Random, nm: Names) -> str:
    simple = {"year": lambda: str(r.randint(1900, 2015)), "job": lambda: r.choice(JOBS),
              "count": lambda: number(r.randint(2, 900) * 100),
              "instrument": lambda: r.choice(["piano", "violin", "guitar", "drums", "flute",
                                              "cello", "trumpet", "harp"]),
              "position": lambda: r.choice(["goalkeeper", "defender", "midfielder", "forward",
                                            "winger"]),
              "industry": lambda: r.choice(["steel", "software", "shipping", "food", "textile",
                                            "energy", "banking"]),
              "genre": lambda: r.choice(["mystery", "fantasy", "science fiction", "romance",
                                         "horror", "adventure"])}
    if kind in simple:
        return simple[kind]()
    return {"place": nm.place, "person": nm.person, "company": nm.company, "team": nm.team,
            "university": lambda: f"University of {nm.place()}",
            "country": lambda: nm.fresh(lambda: nm.word(2, 2) + r.choice(["ia", "land", "stan",
                                                                          "a"])),
            "band": lambda: nm.fresh(lambda: f"The {nm.word(2, 2)}s"),
            "river": lambda: f"{nm.word(2, 2)} River", "press": lambda: f"{nm.word(2, 2)} Press",
            "currency": lambda: f"{nm.word(2, 2).lower()} {r.choice(['dollar', 'mark', 'crown'])}",
            "language": lambda: nm.word(2, 2) + r.choice(["ish", "ese", "ian"])}[kind]()


def _zre_subject(kind: str, r: random.Random, nm: Names) -> str:
    if kind in ("person", "musician", "athlete"):
        return nm.person()
    return {"company": nm.company, "city": nm.place, "book": nm.title,
            "country": lambda: _zre_object("country", r, nm)}[kind]()


def _zre_statement(rel: str, subject: str, obj: str, r: random.Random, he: bool) -> str:
    return fix_articles(r.choice(RELATIONS[rel][2]).format(
        s=subject, o=obj, year=r.randint(1950, 2015), job=r.choice(JOBS), p="he" if he else "she",
        poss="his" if he else "her", child="son" if he else "daughter",
        sib=r.choice(["brother", "sister"])))


def qa_zre(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Relation questions ("Where was XXX born?") over 1-3 sentences about an invented subject.

    Learnable: 31 relations over 7 kinds of subject, two question and two statement shapes
    each, answers copied from the context. Not trivial: the other sentences state other
    relations of the same subject with same-type answers (born in a town, died in a town) or
    the asked relation of another subject, 18% of the questions are unanswerable (answers []),
    and validation asks only about 7 relations training never saw (QA-ZRE's zero-shot split)."""
    unseen = split != "train"
    asked = ZRE_UNSEEN if unseen else [x for x in RELATIONS if x not in ZRE_UNSEEN]
    rows = []
    while len(rows) < n:
        rel = r.choice(asked)
        kind = RELATIONS[rel][0]
        if kind == "person":
            kind = r.choice(["person", "person", "musician", "athlete"])
        subject = _zre_subject(kind, r, nm)
        pool = [x for x, spec in RELATIONS.items() if spec[0] in ZRE_POOLS[kind] and x != rel
                and (unseen or x not in ZRE_UNSEEN)]
        answerable = r.random() >= 0.18
        others = r.sample(pool, r.randint(0 if answerable else 1, min(2, len(pool))))
        obj = _zre_object(RELATIONS[rel][3], r, nm)
        he = r.random() < 0.5
        sentences = [_zre_statement(x, subject, _zre_object(RELATIONS[x][3], r, nm), r, he)
                     for x in others]
        if answerable:
            sentences.append(_zre_statement(rel, subject, obj, r, he))
        if r.random() < 0.3:  # the asked relation, but of somebody else
            someone = _zre_subject(kind, r, nm)
            sentences.append(_zre_statement(rel, someone, _zre_object(RELATIONS[rel][3], r, nm),
                                            r, r.random() < 0.5))
        r.shuffle(sentences)
        rows.append({"relation": rel, "question": r.choice(RELATIONS[rel][1]), "subject": subject,
                     "context": " ".join(sentences), "answers": [obj] if answerable else []})
    return rows


# -- woz ---------------------------------------------------------------------------------------
FOODS = ["chinese", "italian", "indian", "british", "european", "french", "thai", "spanish",
         "turkish", "korean", "mexican", "vietnamese", "japanese", "lebanese", "greek",
         "portuguese", "modern european", "asian oriental", "north american", "mediterranean",
         "international", "gastropub", "seafood", "african"]
AREAS = ["north", "south", "east", "west", "centre"]
PRICES = ["cheap", "moderate", "expensive"]
WOZ_SLOTS = ["food", "price range", "area"]
ASK = {"food": ["What type of food would you like?", "What kind of food are you looking for?"],
       "area": ["What part of town do you have in mind?", "Which area would you like?"],
       "price range": ["Would you like something cheap, moderate, or expensive?",
                       "What price range are you looking for?"]}
REQUEST_WORDS = {"phone": ["phone number", "number"], "address": ["address"],
                 "postcode": ["postcode", "post code"], "area": ["area"],
                 "price range": ["price range"], "food": ["type of food"]}


def _value_words(r: random.Random, slot: str, value: str) -> str:
    """How a user says a slot value (not always the value itself)."""
    if slot == "area":
        if value == "centre":
            return r.choice(["in the centre", "in the city centre", "in the center of town"])
        return r.choice([f"in the {value}", f"in the {value} part of town", f"on the {value} side"])
    if slot == "price range":
        return r.choice({"cheap": ["cheap", "inexpensive"],
                         "moderate": ["moderately priced", "mid priced"],
                         "expensive": ["expensive", "upscale"]}[value])
    return f"{value} food"


def _first_request(r: random.Random, said: dict[str, str]) -> str:
    opener = r.choice(["I'm looking for", "I want", "I need", "Can you find me",
                       "Hello, I am looking for"])
    price = _value_words(r, "price range", said["price range"]) if "price range" in said else ""
    text = f"{opener} {article(price or 'r')} {price + ' ' if price else ''}restaurant"
    if "food" in said:
        text += r.choice([" serving ", " that serves "]) + said["food"] + " food"
    if "area" in said:
        text += " " + _value_words(r, "area", said["area"])
    return text + r.choice([".", ", please.", "."])


def _answer(r: random.Random, slot: str, value: str) -> str:
    if value == "dontcare":
        return r.choice(["I don't care.", "It doesn't matter.", "Any is fine.",
                         "I have no preference."])
    if slot == "food":
        return r.choice([f"{cap(value)} food, please.", f"I'd like {value} food.",
                         f"{cap(value)}."])
    words = _value_words(r, slot, value)
    if slot == "area":
        return r.choice([f"{cap(words)}, please.", f"Somewhere {words}.",
                         f"I want something {words}."])
    return r.choice([f"Something {words}, please.", f"{cap(words)}.", f"I want something {words}."])


def _turn(idx: int, system: str, acts: list, user: str, label: list, state: dict,
          requests: list) -> dict:
    belief = [{"slots": [["slot", x]], "act": "request"} for x in requests]
    belief += [{"slots": [[s, state[s]]], "act": "inform"} for s in WOZ_SLOTS if s in state]
    return {"turn_label": label + [["request", x] for x in requests], "asr": [[user]],
            "system_transcript": system, "turn_idx": idx, "belief_state": belief,
            "transcript": user, "system_acts": acts}


def _dialogue(r: random.Random, nm: Names) -> list[dict]:
    state: dict[str, str] = {}
    goal = {"food": r.choice(FOODS), "price range": r.choice(PRICES), "area": r.choice(AREAS)}
    first = r.sample(WOZ_SLOTS, r.choice([1, 1, 2, 2, 3]))
    said = {s: goal[s] for s in WOZ_SLOTS if s in first}
    if list(said) == ["food"] and r.random() < 0.4:
        user = r.choice([f"Are there any {said['food']} restaurants in town?",
                         f"I want {said['food']} food."])
    else:
        user = _first_request(r, said)
    state.update(said)
    turns = [_turn(0, "", [], user, [[s, v] for s, v in said.items()], state, [])]
    for slot in [s for s in WOZ_SLOTS if s not in state][:r.randint(0, 2)]:
        value = "dontcare" if r.random() < 0.25 else goal[slot]
        state[slot] = value
        turns.append(_turn(len(turns), r.choice(ASK[slot]), [[slot]], _answer(r, slot, value),
                           [[slot, value]], state, []))
    # no match: the user changes the food
    if state.get("food", "dontcare") != "dontcare" and r.random() < 0.35:
        old, new = state["food"], r.choice([f for f in FOODS if f != state["food"]])
        where = ""
        if state.get("area", "dontcare") != "dontcare":
            where = " " + _value_words(r, "area", state["area"])
        system = (f"I'm sorry, there are no {old} restaurants{where}. Would you like a different "
                  "type of food?")
        state["food"] = new
        user = r.choice([f"How about {new} food?", f"What about {new} food then?",
                         f"Okay, then {new} food, please.", f"Then I'd like {new} food."])
        turns.append(_turn(len(turns), system, [["food"]], user, [["food", new]], state, []))
    kinds = ["Kitchen", "House", "Garden", "Grill", "Palace", "Table"]
    name = nm.fresh(lambda: f"{nm.word(2, 2)} {r.choice(kinds)}")
    desc = [state[s] if state.get(s, "dontcare") != "dontcare" else d for s, d in
            (("price range", r.choice(PRICES)), ("food", r.choice(FOODS)),
             ("area", r.choice(AREAS)))]
    offer = f"{name} is {article(desc[0])} {desc[0]} {desc[1]} restaurant in the {desc[2]} of town."
    options = ["phone", "address", "postcode"]
    options += [s for s in WOZ_SLOTS if state.get(s, "dontcare") == "dontcare"]
    wanted = r.sample(options, r.randint(1, min(3, len(options))))
    words = [r.choice(REQUEST_WORDS[x]) for x in wanted]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    ask = r.choice(["Can I have", "Could I get", "What is", "May I have"])
    user = f"{ask} the {listed}{r.choice(['', ', please'])}?"
    turns.append(_turn(len(turns), offer, [], user, [], state, wanted))
    facts = {"phone": f"The phone number is 01223 {r.randint(100000, 999999)}.",
             "address": f"They are at {r.randint(1, 99)} {nm.word(2, 2)} Road.",
             "postcode": f"The postcode is C.B {r.randint(1, 5)}, {r.randint(1, 9)} "
                         f"{r.choice('ABDEFHJLNPQRTU')}.{r.choice('ABDEFHJLNPQRTU')}.",
             "area": f"It is in the {desc[2]} of town.", "price range": f"It is {desc[0]}.",
             "food": f"They serve {desc[1]} food."}
    bye = r.choice(["Thank you, goodbye.", "Thanks, that's all.", "Great, thank you!",
                    "Thank you very much."])
    turns.append(_turn(len(turns), " ".join(facts[x] for x in wanted), [], bye, [], state, []))
    return turns


def woz(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Restaurant-booking dialogues of 3-6 turns in the WOZ 2.0 schema (one row per dialogue).

    Learnable: three informable slots with closed value sets, templated system turns, and
    requests for phone/address/postcode. Not trivial: the state change must be read from the
    user's words, which paraphrase values ("moderately priced", "city centre"), answer a
    system question with "I don't care" (dontcare for the slot asked), or change the food
    after "there are no ... restaurants"; several slots and requests come in one turn."""
    return [{"dialogue_idx": i, "dialogue": _dialogue(r, nm)} for i in range(n)]


# -- wikisql -----------------------------------------------------------------------------------
# One table kind per block: "topic | page title | section title", then its columns as
# "header: type kind" ("real lo-hi" draws a number); the first column is the table's key.
TABLE_KINDS = """
players | {year} {place} League season | Squad
    Player: text person; Team: text team; Position: text position
    Goals: real 0-30; Age: real 18-38; Caps: real 1-90
towns | List of towns in {country} | Towns
    Town: text place; Region: text place; Population: real 1000-90000
    Mayor: text person; Founded: real 1200-1990
films | {person} filmography | Films
    Title: text title; Director: text person; Year: real 1960-2020
    Genre: text genre; Rating: real 10-99
elections | {year} {country} general election | Results
    District: text place; Incumbent: text person; Party: text party
    First elected: real 1960-2010; Votes: real 1000-60000
races | {year} {place} Grand Prix | Classification
    Driver: text person; Constructor: text company; Laps: real 20-70
    Grid: real 1-24; Points: real 0-25
songs | {person} discography | Singles
    Song: text title; Album: text title; Year: real 1970-2020
    Peak position: real 1-40; Weeks on chart: real 1-30
schools | List of schools in {place} | Schools
    School: text school; Location: text place; Enrollment: real 200-3000
    Founded: real 1850-2010; Mascot: text mascot
episodes | List of {title} episodes | Season {k}
    Title: text title; Directed by: text person; Written by: text person
    Viewers: real 100-900; No. in season: real 1-24
"""


def _column(spec: str) -> tuple:
    header, kind = spec.split(": ")
    kind, what = kind.split(" ")
    return (header, kind, tuple(map(int, what.split("-"))) if kind == "real" else what)


# topic -> (page title pattern, section title, columns (header, type, value kind))
_kinds = TABLE_KINDS.strip().splitlines()
TABLES = {head.split(" | ")[0]: (head.split(" | ")[1], head.split(" | ")[2],
                                 [_column(c) for c in f"{one.strip()}; {two.strip()}".split("; ")])
          for head, one, two in zip(_kinds[::3], _kinds[1::3], _kinds[2::3])}
CATEGORIES = {"position": ["Goalkeeper", "Defender", "Midfielder", "Forward"],
              "genre": ["Drama", "Comedy", "Horror", "Western", "Thriller"],
              "party": ["Green", "Labour", "Liberal", "Farmers", "Reform"],
              "mascot": ["Lions", "Eagles", "Bears", "Wolves", "Hawks"]}
STARTS = {0: ["What is the {sel}", "Name the {sel}", "Which {sel} is listed", "Tell me the {sel}"],
          1: ["What is the highest {sel}", "What is the largest {sel}", "Name the most {sel}"],
          2: ["What is the lowest {sel}", "What is the smallest {sel}", "Name the least {sel}"],
          3: ["How many {sel} are there", "What is the total number of {sel}", "Count the {sel}"],
          4: ["What is the sum of {sel}", "What is the total {sel}"],
          5: ["What is the average {sel}", "What is the mean {sel}"]}
CONDS = {0: ["{col} is {val}", "the {col} is {val}"],
         1: ["{col} is more than {val}", "{col} is greater than {val}",
             "the {col} is larger than {val}"],
         2: ["{col} is less than {val}", "{col} is smaller than {val}",
             "the {col} is fewer than {val}"]}


def _cell(kind, r: random.Random, nm: Names) -> str:
    if isinstance(kind, tuple):
        return str(r.randint(*kind))
    if kind in CATEGORIES:
        return r.choice(CATEGORIES[kind])
    return {"person": nm.person, "team": nm.team, "place": nm.place, "title": nm.title,
            "company": nm.company, "school": lambda: f"{nm.place()} High School"}[kind]()


def _table(r: random.Random, nm: Names) -> dict:
    topic = r.choice(list(TABLES))
    page, section, columns = TABLES[topic]
    chosen = r.sample(columns[1:], r.randint(2, min(4, len(columns) - 1)))
    cols = [columns[0]] + [c for c in columns[1:] if c in chosen]
    rows = [[_cell(kind, r, nm) for _, _, kind in cols] for _ in range(r.randint(4, 6))]
    page_id, table_no = r.randint(10000, 9999999), r.randint(1, 9)
    return {"header": [c[0] for c in cols],
            "page_title": page.format(year=r.randint(1990, 2020), place=nm.place(),
                                      person=nm.person(), country=_zre_object("country", r, nm),
                                      title=nm.title(), k=r.randint(1, 9)),
            "page_id": str(page_id), "types": [c[1] for c in cols],
            "id": f"1-{page_id}-{table_no}", "section_title": section.format(k=r.randint(1, 9)),
            "caption": section.format(k=r.randint(1, 9)) if r.random() < 0.5 else "",
            "rows": rows, "name": f"table_{page_id}_{table_no}"}


def _query(r: random.Random, table: dict) -> tuple[str, dict]:
    header, types, rows = table["header"], table["types"], table["rows"]
    sel = r.randrange(len(header))
    if types[sel] == "real":
        agg = r.choice([0, 0, 1, 2, 3, 4, 5])
    else:
        agg = r.choice([0, 0, 0, 3])
    where = [i for i in range(len(header)) if i != sel]
    conds, row = [], r.choice(rows)  # values from one row, so the query matches something
    for col in r.sample(where, 1 if r.random() < 0.65 else min(2, len(where))):
        op = r.choice([0, 1, 2]) if types[col] == "real" else 0
        conds.append((col, op, row[col]))
    question = r.choice(STARTS[agg]).format(sel=header[sel])
    question += " " + r.choice(["when", "where", "if"]) + " "
    question += " and ".join(r.choice(CONDS[op]).format(col=header[c], val=v)
                             for c, op, v in conds) + "?"
    return question, {"human_readable": query_repr(sel, agg, header, conds), "sel": sel, "agg": agg,
                      "conds": {"column_index": [c for c, _, _ in conds],
                                "operator_index": [op for _, op, _ in conds],
                                "condition": [v for _, _, v in conds]}}


def wikisql(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Questions about small invented tables (3-5 columns, 4-6 rows) and their SQL.

    Learnable: eight kinds of table, question shapes that name the columns and quote the
    condition values verbatim, SQL with one select, an optional aggregate and one or two
    conditions. Not trivial: the select and condition columns must be told apart from the
    question's order and wording, the aggregate read from "highest/lowest/how many/total/
    average", the operator from "more/less than", and values copied, since (as in decaNLP)
    the model sees the header and question, not the rows."""
    rows = []
    while len(rows) < n:
        table = _table(r, nm)
        for _ in range(r.randint(2, 4)):
            question, sql = _query(r, table)
            rows.append({"phase": r.choice([1, 2]), "question": question, "table": table,
                         "sql": sql})
    return rows[:n]


# -- wsc ---------------------------------------------------------------------------------------
# Schemas about things: the sentence ({A} {B} {pron} {twin}), then "twins that make the pronoun
# A | twins that make it B", then the fillers for A and for B.
OBJECT_TABLE = """
{A} doesn't fit into {B} because {pron} is too {twin}.
    big, large | small, tiny
    trophy, ball, helmet, book, lamp, guitar, vase, blanket, pillow, camera, kettle, jacket
    suitcase, box, bag, drawer, backpack, basket, case, cupboard
{A} couldn't fit through {B} because {pron} was too {twin}.
    wide, big | narrow, small
    sofa, piano, table, wardrobe, bed, fridge, desk, cabinet
    door, gate, doorway, hallway, window, tunnel, opening
{A} could not cut {B} because {pron} was too {twin}.
    blunt, dull | thick, hard
    knife, saw, axe, blade, machine
    bread, log, rope, cheese, branch, plank, pipe
{A} ran away from {B} because {pron} was {twin}.
    scared, frightened | angry, dangerous
    mouse, rabbit, squirrel, kitten, bird, lamb, duck
    dog, wolf, bear, fox, bull, goose, snake
{A} couldn't lift {B} because {pron} was too {twin}.
    weak, small | heavy, big
    robot, crane, machine, forklift, truck
    box, crate, rock, piano, safe, barrel, statue
{A} refused {B} a permit because {pron} {twin} violence.
    feared, disliked | advocated, wanted
    city council, town council, police, mayor's office, school board
    demonstrators, protesters, students, fans, workers, farmers, activists
"""
# Schemas about two people (invented names): the sentence, then the twins as above.
PERSON_TABLE = """
{A} thanked {B} for the help {pron} had {twin}.
    received, gotten | given, offered
{A} lent money to {B} because {pron} was {twin}.
    rich, generous | poor, broke
{A} tried to call {B}, but {pron} wasn't {twin}.
    successful, lucky | available, home
{A} beat {B} at {game} because {pron} played so {twin}.
    well, cleverly | badly, poorly
{A} explained the rules to {B} because {pron} {twin} them.
    knew, understood | had forgotten, did not know
{A} waited for {B} at the station because {pron} was {twin}.
    early, patient | late, delayed
{A} visited {B} in the hospital because {pron} was {twin}.
    worried, caring | sick, injured
{A} gave {B} a book because {pron} had {twin} it.
    finished, read | asked for, wanted
"""


def _schemas(table: str, width: int) -> list[tuple]:
    """(sentence, twins for A, twins for B[, fillers for A, fillers for B]) from a table."""
    lines = [line.strip() for line in table.strip().splitlines()]
    out = []
    for i in range(0, len(lines), width):
        to_a, to_b = (t.split(", ") for t in lines[i + 1].split(" | "))
        out.append((lines[i], to_a, to_b, *(line.split(", ") for line in lines[i + 2:i + width])))
    return out


OBJECT_SCHEMAS, PERSON_SCHEMAS = _schemas(OBJECT_TABLE, 4), _schemas(PERSON_TABLE, 2)
COLOURS = ["brown", "red", "blue", "green", "black", "white", "old", "new", "wooden", "grey"]


def wsc(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """Winograd schemas: two candidates, a pronoun, and a twin word that flips which one it is.

    Learnable: 14 schemas whose twin words keep their meaning across many fillers (12 x 8
    things that don't fit into containers, 7 x 7 animals that run from animals, invented
    people for the eight person schemas). Not trivial: both candidates are plausible, the
    twin pair is always emitted together (labels exactly balanced), and the answer is an
    option's text, so it must be copied; validation has fillers no training sentence has."""
    rows = []
    while len(rows) < n:
        if r.random() < 0.45:
            template, to_a, to_b, pool_a, pool_b = r.choice(OBJECT_SCHEMAS)
            a, b = (f"the {x}" if r.random() < 0.6 else f"the {r.choice(COLOURS)} {x}"
                    for x in (r.choice(pool_a), r.choice(pool_b)))
            pron = "they" if "{pron} {twin} violence" in template else "it"
            a = cap(a)
        else:
            template, to_a, to_b = r.choice(PERSON_SCHEMAS)
            a, b = nm.first(), nm.first()
            pron = r.choice(["he", "she"])
        game = r.choice(["chess", "tennis", "cards", "golf", "darts", "checkers"])
        k = r.randrange(2)
        key = template.format(A=a, B=b, pron=pron, twin="_", game=game)
        if key in nm.taken:
            continue
        nm.taken.add(key)
        for label, twin in r.sample([(0, to_a[k]), (1, to_b[k])], 2):
            text = template.format(A=a, B=b, pron=pron, twin=twin, game=game)
            loc = text.index(f" {pron} ", text.index(b) + len(b)) + 1
            rows.append({"text": text, "pronoun": pron, "pronoun_loc": loc, "quote": text[loc:-1],
                         "quote_loc": loc, "options": [a, b], "label": label,
                         "source": "mini decathlon"})
    return rows[:n]


# -- beyond the decathlon: five tasks new to a model trained on the ten -------------------------
# Each reuses a decathlon task's world (squad's biographies, multinli's scenes) with a new
# question form and a new answer set, so a model trained on the ten has a skill close to it
# but has never been asked it: what `decaqa compare` adds to a trained model.

def _other_value(r: random.Random, nm: Names, key: str, value: str, pool: list[str]) -> str:
    """A value of the same kind as ``value`` (a town for a town, a year for a year), unequal
    to it: another one of the paragraph's (``pool``) where it has one, else a fresh one."""
    others = [v for v in pool if v != value]
    if others and r.random() < 0.6:
        return r.choice(others)
    if key == "year":
        return str(int(value) + r.choice([-1, 1]) * r.randint(1, 9))
    if key in ("age", "pop"):
        return str(int(value.replace(",", "")) + r.choice([-1, 1]) * r.randint(1, 9))
    fresh = {"city": nm.place, "company": nm.company, "spouse": nm.person, "book": nm.title,
             "uni": lambda: f"University of {nm.place()}",
             "job": lambda: r.choice([j for j in JOBS if j != value]),
             "subject": lambda: r.choice([t for t in SUBJECTS if t != value])}
    return fresh[key]()


def squad_v2(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """SQuAD 2.0: squad's biographies, with 40% of the questions unanswerable from the
    paragraph, as in the real set's adversarial questions: a fact of a kind the asked person
    does not have (often one another person in the paragraph has, so a same-type span sits
    there as a trap), or about a company, town or book the paragraph never names. Their
    answers are empty lists (the converter answers "unanswerable")."""
    rows: list[dict] = []
    while len(rows) < n:
        context, where, qas, people, facts = _biography(r, nm)
        title = people[0].replace(" ", "_")
        asked = r.sample(qas, min(len(qas), r.choice([2, 3])))
        for q, key in asked:
            if r.random() < 0.4:  # unanswerable: ask about a fact the paragraph does not hold
                i = r.randrange(len(people))
                own = {f["kind"] for f in facts if f["who"] == i}
                kind = r.choice([k for k in SQUAD_KINDS if k not in own])
                _, questions = _facts(kind, r, nm)
                q_text, _ = r.choice([x for x in questions if "{P}" in x[0]])
                values = {k: nm.word(2, 2) for k in ("company", "book", "city")}
                q = q_text.format(P=people[i], **values)
                rows.append({"id": hexid(r, 24), "title": title, "context": context,
                             "question": q, "answers": {"text": [], "answer_start": []}})
                continue
            start, text = where[key]
            rows.append({"id": hexid(r, 24), "title": title, "context": context, "question": q,
                         "answers": {"text": [text], "answer_start": [start]}})
    return rows[:n]


BOOLQ_QUESTIONS = {  # (kind, key) -> a yes/no question about that value
    ("born", "city"): "was {P} born in {v}", ("born", "year"): "was {P} born in {v}",
    ("works", "company"): "does {P} work for {v}", ("works", "job"): "does {P} work as {a} {v}",
    ("founded", "company"): "did {P} found {v}",
    ("founded", "year"): "did {P} found a company in {v}",
    ("lives", "city"): "does {P} live in {v}", ("age", "age"): "is {P} {v} years old",
    ("studied", "subject"): "did {P} study {v}", ("studied", "uni"): "did {P} study at the {v}",
    ("married", "spouse"): "did {P} marry {v}", ("married", "year"): "did {P} marry in {v}",
    ("wrote", "book"): "did {P} write {v}", ("wrote", "year"): "did {P} write a book in {v}"}


def boolq(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """BoolQ: yes/no questions about squad's biographies, half true and half false. A false
    question names another value of the same kind (most often one the paragraph gives for
    someone else, so the value is in the passage and only its owner decides) or the right
    value with the other person's name. Questions are lower-case without a question mark, as
    in google/boolq, except that names keep their capitals."""
    rows: list[dict] = []
    while len(rows) < n:
        passage, _, _, people, facts = _biography(r, nm)
        for fact in r.sample(facts, min(len(facts), 2)):
            key = r.choice(list(fact["values"]))
            value, person = fact["values"][key], people[fact["who"]]
            truth = r.random() < 0.5
            if not truth:
                pool = [f["values"][key] for f in facts if key in f["values"]]
                if len(people) > 1 and r.random() < 0.3:
                    others = [p for k, p in enumerate(people) if k != fact["who"] and not any(
                        f["who"] == k and f["values"].get(key) == value for f in facts)]
                    person = r.choice(others) if others else person
                if person == people[fact["who"]]:
                    value = _other_value(r, nm, key, value, pool)
            question = BOOLQ_QUESTIONS[fact["kind"], key].format(P=person, v=value,
                                                                  a=article(value))
            rows.append({"question": question, "answer": truth, "passage": passage})
    return rows[:n]


def qnli(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """QNLI: a squad question and one sentence of its paragraph; label 0 (entailment) when
    the sentence holds the answer, 1 when it does not: another sentence of the paragraph,
    most often one about the same person or a fact of the same kind, so the question's name
    and its kind of fact must both be matched. Half of each."""
    rows: list[dict] = []
    while len(rows) < n:
        context, where, qas, _, _ = _biography(r, nm)
        sentences, offsets, at = [], [], 0
        for sentence in re.split(r"(?<=\.) ", context):
            sentences.append(sentence)
            offsets.append(at)
            at += len(sentence) + 1
        for q, key in r.sample(qas, min(len(qas), 2)):
            start = where[key][0]
            holds = max(k for k, o in enumerate(offsets) if o <= start)
            label = 0 if r.random() < 0.5 or len(sentences) == 1 else 1
            pick = holds if label == 0 else r.choice([k for k in range(len(sentences))
                                                      if k != holds])
            rows.append({"question": q, "sentence": sentences[pick], "label": label,
                         "idx": len(rows)})
    return rows[:n]


MRPC_FORMS = {  # each kind of fact, said three ways with the same values
    "born": ["{P} was born in {city} in {year}.", "In {year}, {P} was born in {city}.",
             "{P} was born in the town of {city} in {year}."],
    "works": ["{P} works for {company} as {a_job} {job}.", "{P} is {a_job} {job} at {company}.",
              "{company} employs {P} as {a_job} {job}."],
    "founded": ["{P} founded {company} in {year}.", "{company} was founded by {P} in {year}.",
                "In {year}, {P} founded {company}."],
    "lives": ["{P} now lives in {city}.", "These days {P} lives in {city}.",
              "{P} has moved to {city} and lives there now."],
    "age": ["{P} is {age} years old.", "{P} is aged {age}.", "The age of {P} is {age}."],
    "studied": ["{P} studied {subject} at the {uni}.", "At the {uni}, {P} studied {subject}.",
                "{P} was a student of {subject} at the {uni}."],
    "married": ["{P} married {spouse} in {year}.", "In {year}, {P} married {spouse}.",
                "{P} and {spouse} were married in {year}."],
    "wrote": ["{P} wrote a book called {book} in {year}.", "In {year}, {P} wrote the book {book}.",
              "{book} is a book that {P} wrote in {year}."]}


def mrpc(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """MRPC: two sentences about one person's fact (squad's kinds, each said three ways);
    label 1 (equivalent) when the second says the same in other words, 0 when it says it
    in other (or the same) words with one value changed: another year, town, company, job,
    or another person. Half of each, so word overlap alone does not decide."""
    rows: list[dict] = []
    while len(rows) < n:
        kind = r.choice(SQUAD_KINDS)
        after, _ = _facts(kind, r, nm)
        values = {p[0]: p[1] for p in after if isinstance(p, tuple)}
        values["P"] = nm.person()
        values["a_job"] = article(values.get("job", "x"))
        first, second = r.sample(MRPC_FORMS[kind], 2)
        label = int(r.random() < 0.5)
        changed = dict(values)
        if not label:
            second = r.choice(MRPC_FORMS[kind])
            key = r.choice([k for k in values if k != "a_job"])
            changed[key] = nm.person() if key == "P" else _other_value(r, nm, key, values[key],
                                                                       [])
            changed["a_job"] = article(changed.get("job", "x"))
        pair = [first.format(**values), second.format(**changed)]
        rows.append({"sentence1": pair[0], "sentence2": pair[1], "label": label,
                     "idx": len(rows)})
    return rows[:n]


def rte(r: random.Random, nm: Names, n: int, split: str) -> list[dict]:
    """RTE: multinli's premises and rules, two-way: label 0 (entailment) for the entailed
    hypothesis, 1 (not_entailment) for the neutral or the contradicted one, one of each per
    premise, in a random order. The neutral half makes it more than spotting a contradiction:
    a hypothesis that adds a detail the premise lacks is not entailed either."""
    rows: list[dict] = []
    while len(rows) < n:
        if r.random() < 0.25:
            premise, hyps = _prop_pair(r, *r.choice(PROPS))
            hyps = {k: ("", v[1]) for k, v in hyps.items()}
        else:
            s = _scene(r, nm)
            premise, hyps = _say(s), _scene_hypotheses(r, s)
        if premise in nm.taken:
            continue
        nm.taken.add(premise)
        pairs = [(0, hyps[0][1]), (1, hyps[r.choice([1, 2])][1])]
        for label, hypothesis in r.sample(pairs, 2):
            rows.append({"sentence1": premise, "sentence2": hypothesis, "label": label,
                         "idx": len(rows)})
    return rows[:n]


# -- writing -----------------------------------------------------------------------------------
GENERATORS = {"squad": squad, "iwslt": iwslt, "cnn_dailymail": cnn_dailymail, "multinli": multinli,
              "sst2": sst2, "qa_srl": qa_srl, "qa_zre": qa_zre, "woz": woz, "wikisql": wikisql,
              "wsc": wsc, "rte": rte, "mrpc": mrpc, "qnli": qnli, "squad_v2": squad_v2,
              "boolq": boolq}
assert list(GENERATORS) == ALL_TASKS


def build(task: str) -> dict[str, list[dict]]:
    """Both splits of one task; training first, so validation can avoid its names."""
    taken: set[str] = set()
    out = {}
    for split, size in zip(SPLITS, SIZES[task]):
        rng = random.Random(f"{task}/{split}")
        out[split] = GENERATORS[task](rng, Names(rng, taken), size, split)
    return out


def write(out_dir: Path = ROOT, tasks: list[str] | None = None) -> list[Path]:
    written = []
    for task in tasks or ALL_TASKS:
        for split, rows in build(task).items():
            file = path(task, split, out_dir)
            file.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            # no file name or time in the gzip header: the same rows give the same bytes
            with open(file, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                        mtime=0, compresslevel=9) as f:
                f.write(text.encode("utf-8"))
            written.append(file)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT,
                        help="folder to write <task>/<split>.jsonl.gz into")
    parser.add_argument("--tasks", nargs="*", choices=ALL_TASKS,
                        help="only these tasks (default: all fifteen)")
    args = parser.parse_args(argv)
    for file in write(args.out, args.tasks):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            print(f"{file}  {sum(1 for _ in f)} rows")


if __name__ == "__main__":
    main()
