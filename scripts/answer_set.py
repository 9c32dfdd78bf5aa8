"""The question set of scripts/bench_answers.py: seven documents generated deterministically (prose,
technical text, a table-heavy page, minutes, a field guide, a handbook and a long town chronicle of
about 13.5K tokens) with facts planted at chosen depths, and one question per fact whose expected
answer is a short distinctive string.

The filler around the facts is built from fixed sentence templates with a seeded random generator, so
every run asks the same questions about the same text; no fact's answer occurs in the filler.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    sentence: str  # planted in the document
    question: str
    expected: str  # the answer contains this (case-insensitive) when it is grounded
    depth: float  # where in the document, 0 = start, 1 = end


@dataclass(frozen=True)
class Doc:
    name: str
    kind: str
    words: int  # filler size (about 1.3 tokens per word)
    facts: tuple[Fact, ...]


def F(sentence: str, question: str, expected: str, depth: float) -> Fact:
    return Fact(sentence, question, expected, depth)


PEOPLE = ["the keeper", "the pilot", "the harbour master", "the ferryman", "the schoolteacher", "the baker",
          "the old sailor", "the postmistress", "the carpenter", "the vicar"]
THINGS = ["the tide", "the fog", "the lamp", "the jetty", "the nets", "the gulls", "the bell", "the chapel roof",
          "the stone wall", "the boathouse", "the rain", "the lantern room", "the supply boat", "the wind"]
DOINGS = ["watched", "talked about", "worried over", "walked past", "repaired", "listened to", "cleaned",
          "complained about", "waited for", "looked at"]
WHENS = ["in the early morning", "after supper", "before the storm", "on most evenings", "during the long winter",
         "when the light failed", "at low water", "on market days", "after the sermon", "late at night"]
EXTRAS = ["Nobody thought much of it.", "It had always been that way.", "The village said little about it.",
          "There was no hurry in anything.", "The days passed slowly.", "Everyone knew the routine by heart.",
          "Some said it was a sign of a hard season.", "The light kept turning all the while."]

MODULES = ["the scheduler", "the packet filter", "the DHCP service", "the logging daemon", "the web console",
           "the firmware updater", "the VPN client", "the DNS cache", "the backup agent", "the watchdog"]
ACTIONS = ["retries the request", "writes a warning to the system log", "drops the connection",
           "reloads its configuration", "falls back to the previous value", "waits for the next poll",
           "marks the interface as degraded", "flushes its queue"]
CONDS = ["when the link goes down", "if the configuration is invalid", "after a power failure",
         "when the disk is full", "if a peer stops answering", "during a firmware upgrade",
         "when the clock drifts", "if the certificate expires"]
SECTIONS = ["[network]", "[system]", "[security]", "[storage]", "[services]", "[logging]"]

SPECIES = ["the sedge warbler", "the common toad", "the grey heron", "the marsh harrier", "the water vole",
           "the reed bunting", "the great crested grebe", "the otter", "the kingfisher", "the dragonfly"]
HABITS = ["feeds along the margins of slow water", "nests low in dense vegetation", "is most active at dusk",
          "is rarely seen far from reed beds", "moves between ponds in wet weather",
          "hunts by waiting motionless", "spends the winter further south", "is easily disturbed by walkers"]
SIGNS = ["Look for it in late spring.", "Its call carries across open water.", "Tracks are clearest in soft mud.",
         "Numbers vary from year to year.", "It is protected on the reserve.", "Binoculars help at this distance."]

POLICY = ["Employees should", "Team leads must", "New starters are expected to", "Contractors may",
          "Managers are asked to", "Everyone should"]
POLICY_DO = ["record their hours in the timesheet system", "keep their desks clear at the end of the day",
             "complete the annual security training", "report equipment faults to the service desk",
             "book meeting rooms through the calendar", "store documents on the shared drive",
             "lock their screens when away", "follow the travel approval process"]
POLICY_WHY = ["This keeps records consistent.", "Exceptions need written approval.", "The policy is reviewed yearly.",
              "Questions go to the people team.", "This applies to all offices.", "Repeated lapses are escalated."]

TOWNSFOLK = ["the mayor", "the guild of weavers", "the council", "the bishop", "the merchants", "the garrison",
             "the millers", "the river wardens", "the town clerk", "the harbour guild", "the aldermen",
             "the brewers"]
DEEDS = ["rebuilt", "argued over", "taxed", "petitioned for", "celebrated", "neglected", "fortified",
         "surveyed", "restored", "disputed", "enlarged", "paved"]
PLACES = ["the market square", "the north gate", "the old bridge", "the granary", "the cathedral",
          "the town walls", "the river quay", "the mint", "the almshouse", "the tannery", "the common fields",
          "the fish market"]
TIMES = ["in a dry summer", "after the great flood", "during a long siege", "in a year of plague",
         "after a poor harvest", "in the reign of a weak king", "when trade was good", "in a quiet decade"]
NOTES = ["The records of that time are incomplete.", "Later chroniclers disagreed about the details.",
         "Little of this work survives today.", "The cost was borne by the wealthier families.",
         "The town's fortunes rose and fell with the river.", "Contemporary letters mention it only in passing."]


def _prose(rng: random.Random, n_words: int, style: str) -> list[str]:
    """Filler paragraphs of about ``n_words`` words in one of the styles."""
    paras: list[str] = []
    words = 0
    while words < n_words:
        sents = []
        for _ in range(rng.randint(3, 6)):
            if style == "story":
                s = (f"{rng.choice(PEOPLE).capitalize()} {rng.choice(DOINGS)} {rng.choice(THINGS)} "
                     f"{rng.choice(WHENS)}. {rng.choice(EXTRAS)}")
            elif style == "tech":
                s = (f"{rng.choice(MODULES).capitalize()} {rng.choice(ACTIONS)} {rng.choice(CONDS)}. This can be "
                     f"changed in the {rng.choice(SECTIONS)} section of the configuration file.")
            elif style == "chronicle":
                s = (f"{rng.choice(TOWNSFOLK).capitalize()} {rng.choice(DEEDS)} {rng.choice(PLACES)} "
                     f"{rng.choice(TIMES)}. {rng.choice(NOTES)}")
            elif style == "nature":
                s = f"{rng.choice(SPECIES).capitalize()} {rng.choice(HABITS)}. {rng.choice(SIGNS)}"
            else:
                s = f"{rng.choice(POLICY)} {rng.choice(POLICY_DO)}. {rng.choice(POLICY_WHY)}"
            sents.append(s)
        p = " ".join(sents)
        paras.append(p)
        words += len(p.split())
    return paras


def _table(rng: random.Random, rows: int, title: str) -> str:
    items = ["bolt", "hinge", "bracket", "washer", "clamp", "spring", "gasket", "valve", "lever", "pulley"]
    finishes = ["zinc", "brass", "steel", "nylon", "chrome"]
    lines = [f"### {title}", "", "| SKU | Item | Finish | Unit price (EUR) | In stock |", "|---|---|---|---|---|"]
    for _ in range(rows):
        lines.append(f"| K-{rng.randint(100, 899)} | {rng.choice(items)} | {rng.choice(finishes)} | "
                     f"{rng.randint(1, 60)}.{rng.randint(0, 99):02d} | {rng.randint(0, 500)} |")
    return "\n".join(lines)


DOCS: tuple[Doc, ...] = (
    Doc("lighthouse.txt", "prose", 1000, (
        F("The lighthouse keeper's dog was a wiry terrier called Biscuit.",
          "What was the name of the lighthouse keeper's dog?", "Biscuit", 0.05),
        F("The lighthouse on Carrow Point was first lit in the year 1862.",
          "In what year was the lighthouse on Carrow Point first lit?", "1862", 0.3),
        F("The supply boat that came every Thursday was painted a bright saffron yellow.",
          "What colour was the supply boat painted?", "saffron", 0.5),
        F("The keeper's sister, Marta Quillon, ran the post office in the village.",
          "Who ran the post office in the village?", "Quillon", 0.65),
        F("The great lamp burned colza oil until it was converted to paraffin.",
          "What oil did the great lamp burn before it was converted?", "colza", 0.8),
        F("In the end the keeper moved inland, to a cottage near the town of Brackwater.",
          "To which town did the keeper move in the end?", "Brackwater", 0.95),
        F("There were exactly 217 steps from the door to the lantern room.",
          "How many steps were there from the door to the lantern room?", "217", 0.15),
    )),
    Doc("router-manual.md", "technical", 2000, (
        F("The web console listens on TCP port 8443 by default.",
          "On which TCP port does the web console listen by default?", "8443", 0.05),
        F("To reset the device to factory settings, hold the reset button for 12 seconds.",
          "How long must the reset button be held to restore factory settings?", "12 seconds", 0.25),
        F("The default administrator account is named netadmin.",
          "What is the name of the default administrator account?", "netadmin", 0.4),
        F("Firmware images are verified with an Ed25519 signature before they are installed.",
          "What kind of signature verifies firmware images?", "Ed25519", 0.55),
        F("The maximum number of VPN tunnels is 64.",
          "What is the maximum number of VPN tunnels?", "64", 0.7),
        F("Log files are rotated when they reach 50 MB.",
          "At what size are log files rotated?", "50 MB", 0.85),
        F("The watchdog reboots the device after 300 seconds without a heartbeat.",
          "After how many seconds without a heartbeat does the watchdog reboot the device?", "300", 0.97),
    )),
    Doc("parts-catalogue.md", "table", 0, (
        F("| K-901 | turnbuckle | bronze | 73.15 | 12 |",
          "What is the unit price of the bronze turnbuckle (SKU K-901)?", "73.15", 0.1),
        F("| K-902 | eyelet | copper | 0.35 | 9000 |",
          "How many copper eyelets (SKU K-902) are in stock?", "9000", 0.35),
        F("| K-903 | castor wheel | rubber | 64.80 | 7 |",
          "What is the unit price of the rubber castor wheel (SKU K-903)?", "64.80", 0.55),
        F("| K-904 | padlock | titanium | 88.88 | 3 |",
          "What finish does the padlock with SKU K-904 have?", "titanium", 0.75),
        F("| K-905 | door closer | anodised | 95.20 | 41 |",
          "What is the unit price of the door closer (SKU K-905)?", "95.20", 0.9),
        F("Orders above 500 EUR are shipped free of charge from the Utrecht warehouse.",
          "From which warehouse are orders above 500 EUR shipped free of charge?", "Utrecht", 0.02),
        F("| K-906 | cable tie | polyamide | 0.07 | 25000 |",
          "Which item has SKU K-906?", "cable tie", 0.65),
    )),
    Doc("minutes.txt", "prose", 700, (
        F("The meeting was chaired by Odette Varnum.",
          "Who chaired the meeting?", "Varnum", 0.05),
        F("The committee approved a budget of 14,500 euros for the new playground.",
          "What budget did the committee approve for the new playground?", "14,500", 0.35),
        F("The summer fete will be held on the 9th of August.",
          "On what date will the summer fete be held?", "9th of August", 0.6),
        F("The bridge repairs were awarded to the firm Holloway and Sons.",
          "Which firm was awarded the bridge repairs?", "Holloway", 0.75),
        F("The next meeting will take place in the library annexe.",
          "Where will the next meeting take place?", "library annexe", 0.9),
        F("The treasurer reported that the hall roof fund now holds 3,218 euros.",
          "How much does the hall roof fund hold?", "3,218", 0.2),
    )),
    Doc("field-guide.md", "prose", 3000, (
        F("The rarest bird on the reserve is the bittern, with only two booming males recorded.",
          "What is the rarest bird on the reserve?", "bittern", 0.05),
        F("The reserve covers 340 hectares of fen and open water.",
          "How many hectares does the reserve cover?", "340", 0.3),
        F("Visitors must keep dogs on a lead shorter than two metres.",
          "How long may a dog's lead be on the reserve at most?", "two metres", 0.5),
        F("The hide nearest the car park is called Teal Hide.",
          "What is the hide nearest the car park called?", "Teal Hide", 0.7),
        F("The reserve's warden is Dr. Ines Calloway.",
          "Who is the reserve's warden?", "Calloway", 0.85),
        F("The visitor centre closes at 4 pm from November to February.",
          "At what time does the visitor centre close from November to February?", "4 pm", 0.97),
    )),
    Doc("handbook.md", "prose", 5500, (
        F("Staff receive 27 days of annual leave, plus public holidays.",
          "How many days of annual leave do staff receive?", "27", 0.03),
        F("The company's headquarters are in the Foundry Building in Leeds.",
          "In which building are the company's headquarters?", "Foundry", 0.15),
        F("Expense claims must be submitted within 45 days of the purchase.",
          "Within how many days must expense claims be submitted?", "45", 0.3),
        F("The on-call allowance is 180 pounds per week.",
          "How much is the on-call allowance per week?", "180", 0.45),
        F("Parental leave is paid in full for the first 16 weeks.",
          "For how many weeks is parental leave paid in full?", "16", 0.6),
        F("The internal chat system is called Relay.",
          "What is the internal chat system called?", "Relay", 0.72),
        F("Laptops are replaced every four years.",
          "How often are laptops replaced?", "four years", 0.85),
        F("The staff choir rehearses on Wednesday evenings.",
          "On which evening does the staff choir rehearse?", "Wednesday", 0.97),
    )),
    Doc("chronicle.md", "prose", 10800, (
        F("The town of Elmsford received its charter from Queen Adelheid.",
          "From whom did the town of Elmsford receive its charter?", "Adelheid", 0.02),
        F("The first stone bridge over the river Wend had nine arches.",
          "How many arches did the first stone bridge over the river Wend have?", "nine", 0.12),
        F("The great fire of 1647 began in a bakery on Candle Lane.",
          "On which street did the great fire of 1647 begin?", "Candle Lane", 0.3),
        F("The weavers' hall was designed by the architect Tobias Grenwald.",
          "Who designed the weavers' hall?", "Grenwald", 0.45),
        F("The town's population reached 11,400 in the census of 1801.",
          "What was the town's population in the census of 1801?", "11,400", 0.6),
        F("The cathedral bell was cast in Mechelen and weighs four tonnes.",
          "Where was the cathedral bell cast?", "Mechelen", 0.78),
        F("The railway reached Elmsford in 1868, and its station was named Wend Junction.",
          "What was the railway station at Elmsford named?", "Wend Junction", 0.93),
    )),
)

_STYLES = {"lighthouse.txt": "story", "router-manual.md": "tech", "minutes.txt": "policy",
           "field-guide.md": "nature", "handbook.md": "policy",
           "chronicle.md": "chronicle"}
_TITLES = {"lighthouse.txt": "The Keeper of Carrow Point", "router-manual.md": "NR-400 Router: Administrator Guide",
           "parts-catalogue.md": "Fittings and Fixings: Price List", "minutes.txt": "Parish Committee: Minutes",
           "field-guide.md": "Wetland Reserve: Field Guide", "handbook.md": "Staff Handbook",
           "chronicle.md": "Elmsford: A Chronicle of the Town"}


#: the same facts asked in other words (avoiding the fact sentence's own words where English allows): how
#: often the passage restated beside a question (core.excerpt) still holds the fact, is none, or is wrong
PARAPHRASES: dict[str, list[tuple[str, str]]] = {
    "lighthouse.txt": [
        ("Which pet did the keeper own?", "Biscuit"),
        ("When did the light first shine at Carrow Point?", "1862"),
        ("Who was the village postmistress?", "Quillon"),
        ("How many stairs lead up to the lamp?", "217"),
        ("Where did the keeper retire to?", "Brackwater"),
    ],
    "router-manual.md": [
        ("Which port should I open in the firewall for the admin web page?", "8443"),
        ("How do I restore the factory defaults?", "12 seconds"),
        ("What is the admin user called?", "netadmin"),
        ("How many VPN connections can run at once?", "64"),
        ("When do logs get rotated?", "50 MB"),
    ],
    "parts-catalogue.md": [
        ("How much does a turnbuckle cost?", "73.15"),
        ("Do you have copper eyelets in stock, and how many?", "9000"),
        ("Is shipping free for large orders, and from where?", "Utrecht"),
    ],
    "minutes.txt": [
        ("Who led the meeting?", "Varnum"),
        ("Which company will fix the bridge?", "Holloway"),
        ("How much money is in the roof fund?", "3,218"),
    ],
    "field-guide.md": [
        ("Which bird is hardest to find on the reserve?", "bittern"),
        ("How big is the reserve?", "340"),
        ("Who looks after the reserve?", "Calloway"),
    ],
    "handbook.md": [
        ("How much holiday do employees get?", "27"),
        ("Where is the head office?", "Foundry"),
        ("What do we use for chatting at work?", "Relay"),
        ("When does the choir practise?", "Wednesday"),
    ],
    "chronicle.md": [
        ("Who granted Elmsford its charter?", "Adelheid"),
        ("Where did the 1647 fire start?", "Candle Lane"),
        ("Who was the architect of the weavers' hall?", "Grenwald"),
        ("How many people lived in the town in 1801?", "11,400"),
    ],
}


def render(doc: Doc) -> str:
    """The document's text: filler with its facts inserted at their depths (the same every run)."""
    rng = random.Random(doc.name)
    if doc.kind == "table":
        blocks = [_table(rng, 20, f"Section {chr(65 + i)}") for i in range(6)]
        rows = [b.split("\n") for b in blocks]
        flat = [line for block in rows for line in [*block, ""]]
    else:
        flat = _prose(rng, doc.words, _STYLES[doc.name])
    for fact in sorted(doc.facts, key=lambda f: f.depth, reverse=True):
        at = round(fact.depth * len(flat))
        if doc.kind == "table" and fact.sentence.startswith("|"):
            while at < len(flat) and not flat[at].startswith("| K-"):  # inside a table, after its header
                at += 1
            flat.insert(at, fact.sentence)
        elif doc.kind == "table":  # a note between two tables
            while at < len(flat) and not flat[at].startswith("###"):
                at += 1
            flat.insert(at, fact.sentence + "\n")
        else:
            at = min(at, len(flat) - 1)
            flat[at] = f"{flat[at]} {fact.sentence}" if fact.depth > 0.5 else f"{fact.sentence} {flat[at]}"
    sep = "\n" if doc.kind == "table" else "\n\n"
    return f"# {_TITLES[doc.name]}\n\n" + sep.join(flat) + "\n"


def check() -> None:
    """No expected answer may occur in the filler: the fact must be the only place it is found."""
    for doc in DOCS:
        text = render(doc)
        for fact in doc.facts:
            rest = text.replace(fact.sentence, "")
            assert fact.expected.lower() not in rest.lower(), (doc.name, fact.expected)
