#!/usr/bin/env python3
"""Generate pii_corpus.jsonl, the labelled corpus for corpus_test.go.

Run from this directory: python3 gen_corpus.py > pii_corpus.jsonl

Each output line is a JSON object:
  text  a chat-like sentence
  pii   [{"kind": KIND, "value": substring}] personal values that must
        not survive redaction, KIND as in the Go placeholders
  keep  [substring] look-alikes that should survive it
  category  (optional) the detector the look-alikes are built to fool;
        a pii entry may also carry a category, finer than its kind
        (SSN, NINO, STEUER_ID are NATIONAL_ID). corpus_test.go reports
        recall and false positives per category.

Every value is fake: e-mail at example.com/.org/.net, IPs from the
documentation ranges, phone numbers from ranges reserved for fiction or
tests, well-known test cards and IBANs or random ones built here. The
check digits are computed by this script, independently of the Go code,
so that the two implementations check each other.
"""

import base64
import json
import random
import string
import sys

rng = random.Random(20240315)
LINES = []


def emit(text, pii=(), keep=(), category=None):
    entries = []
    for k, v, *cat in pii:
        assert v in text, (v, text)
        entries.append({"kind": k, "value": v, **({"category": cat[0]} if cat else {})})
    for v in keep:
        assert v in text, (v, text)
    line = {"text": text, "pii": entries, "keep": list(keep)}
    if category:
        line["category"] = category
    LINES.append(line)


def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))


# --- check digit algorithms -------------------------------------------------

def luhn_ok(num):
    total = 0
    for k, c in enumerate(reversed(num)):
        d = int(c)
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    for c in string.digits:
        if luhn_ok(body + c):
            return body + c


def luhn_break(num):
    last = str((int(num[-1]) + 1) % 10)
    return num[:-1] + last


def iban_check(cc, bban):
    n = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    return "%02d" % (98 - n % 97)


def iban(cc, bban):
    return cc + iban_check(cc, bban) + bban


def group4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def nir(sex, yy, mm, dept, commune, order):
    body = f"{sex}{yy}{mm}{dept}{commune}{order}"
    n = int(body.replace("2A", "19").replace("2B", "18"))
    return body, "%02d" % (97 - n % 97)


def be_number(yy, mm, dd, serial, since2000=False):
    nine = f"{yy}{mm}{dd}{serial}"
    n = int(("2" if since2000 else "") + nine)
    return nine + "%02d" % (97 - n % 97)


def bsn():
    while True:
        d = [rng.randrange(10) for _ in range(8)]
        s = sum((9 - k) * d[k] for k in range(8))
        last = s % 11
        if last < 10 and d[0] != 0:
            return "".join(map(str, d)) + str(last)


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni():
    n = rng.randrange(10_000_000, 99_999_999)
    return f"{n}{DNI_LETTERS[n % 23]}"


def nie():
    p = rng.choice("XYZ")
    n = int("XYZ".index(p) * 10_000_000 + rng.randrange(10_000_000))
    return f"{p}{n % 10_000_000:07d}{DNI_LETTERS[n % 23]}"


CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def cf():
    letters = "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(6))
    yy = digits(2)
    month = rng.choice("ABCDEHLMPRST")
    day = rng.randrange(1, 29) + rng.choice([0, 40])
    town = rng.choice("ABCDEFGHLM") + digits(3)
    body = f"{letters}{yy}{month}{day:02d}{town}"
    total = 0
    for k, c in enumerate(body):
        v = int(c) if c.isdigit() else ord(c) - 65
        total += CF_ODD[v] if k % 2 == 0 else v
    return body + chr(65 + total % 26)


def token(n, alphabet=string.ascii_letters + string.digits):
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


# --- value generators -------------------------------------------------------

FIRST = ["jane", "john", "marie", "lukas", "sofia", "pieter", "giulia", "omar", "chloe", "arnav", "lea", "mateo"]
LAST = ["doe", "smith", "martin", "muller", "rossi", "jansen", "garcia", "dupont", "nowak", "okafor"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "corp.example.org"]


def email():
    f, l = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{f}.{l}", f"{f}{rng.randrange(10, 99)}", f"{f[0]}{l}", f"{f}_{l}", f"{f}+news"])
    if rng.random() < 0.2:
        local = local.capitalize()
    return f"{local}@{rng.choice(DOMAINS)}"


def phone():
    kind = rng.randrange(9)
    if kind == 0:
        return f"020 7946 0{digits(3)}"
    if kind == 1:
        return f"+44 20 7946 0{digits(3)}"
    if kind == 2:
        return f"07700 900{digits(3)}"
    if kind == 3:
        return f"({rng.choice(['201', '212', '312', '415'])}) 555-01{digits(2)}"
    if kind == 4:
        return f"{rng.choice(['201', '212', '312', '415'])}-555-01{digits(2)}"
    if kind == 5:
        d = "39 98 " + digits(2) + " " + digits(2)
        return rng.choice([f"06 {d}", f"+33 6 {d}", "06." + d.replace(" ", ".")])
    if kind == 6:
        return f"+1 ({rng.choice(['201', '212', '312', '415'])}) 555-01{digits(2)}"
    if kind == 7:
        return rng.choice([f"030 {digits(6)}", f"+49 30 {digits(7)}", f"089/{digits(7)}"])
    return f"01 99 00 {digits(2)} {digits(2)}"


TEST_CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444", "4242 4242 4242 4242", "378282246310005",
              "6011111111111117", "5105-1051-0510-5100", "4012888888881881", "3530111333300000"]


def card():
    if rng.random() < 0.5:
        return rng.choice(TEST_CARDS)
    num = luhn_complete(rng.choice(["4000", "4111", "5555", "2223"]), 16)
    return rng.choice([num, group4(num), "-".join(num[i:i + 4] for i in range(0, 16, 4))])


TEST_IBANS = ["GB82 WEST 1234 5698 7654 32", "FR14 2004 1010 0505 0001 3M02 606", "DE89 3704 0044 0532 0130 00",
              "NL91 ABNA 0417 1643 00", "BE68 5390 0754 7034", "ES91 2100 0418 4502 0005 1332",
              "IT60 X054 2811 1010 0000 0123 456", "CH93 0076 2011 6238 5295 7"]


def iban_value():
    if rng.random() < 0.5:
        return rng.choice(TEST_IBANS)
    cc, bban = rng.choice([("DE", "37040044" + digits(10)), ("FR", "20041" + digits(5) + digits(11) + digits(2)),
                           ("GB", "TEST" + "000000" + digits(8)), ("ES", "2100" + "0418" + digits(12)),
                           ("NL", "TEST0" + digits(9)), ("IT", "X0542811101" + digits(12))])
    value = iban(cc, bban)
    return rng.choice([value, group4(value)])


def ip():
    if rng.random() < 0.6:
        return rng.choice(["192.0.2.", "198.51.100.", "203.0.113."]) + str(rng.randrange(1, 255))
    return rng.choice(["2001:db8::", "2001:db8:85a3::8a2e:370:", "2001:db8:1234:5678::"]) + "%x" % rng.randrange(1, 65535)


def national_id():
    kind = rng.randrange(7)
    if kind == 0:
        dept = rng.choice(["75", "69", "13", "2A", "2B", "33"])
        body, key = nir(rng.choice("12"), digits(2), "%02d" % rng.randrange(1, 13), dept, digits(3), digits(3))
        spaced = " ".join([body[0], body[1:3], body[3:5], body[5:7], body[7:10], body[10:13], key])
        return rng.choice([body + key, spaced])
    if kind == 1:
        return dni()
    if kind == 2:
        return nie()
    if kind == 3:
        return cf()
    if kind == 4:
        v = be_number("%02d" % rng.randrange(40, 99), "%02d" % rng.randrange(1, 13), "%02d" % rng.randrange(1, 29),
                      "%03d" % rng.randrange(1, 998))
        return f"{v[0:2]}.{v[2:4]}.{v[4:6]}-{v[6:9]}.{v[9:11]}"
    if kind == 5:
        v = be_number("%02d" % rng.randrange(0, 20), "%02d" % rng.randrange(1, 13), "%02d" % rng.randrange(1, 29),
                      "%03d" % rng.randrange(1, 998), since2000=True)
        return v
    b = bsn()
    return f"{b[0:4]}.{b[4:6]}.{b[6:9]}"


def secret():
    kind = rng.randrange(9)
    if kind == 0:
        return "sk-proj-" + token(40)
    if kind == 1:
        return "AKIA" + token(16, string.ascii_uppercase + string.digits)
    if kind == 2:
        return "ghp_" + token(36)
    if kind == 3:
        header = b64url({"alg": "HS256", "typ": "JWT"})
        payload = b64url({"sub": digits(8), "name": "Test User", "iat": 1700000000})
        return f"{header}.{payload}.{token(43, string.ascii_letters + string.digits + '-_')}"
    if kind == 4:
        return "xoxb-" + digits(11) + "-" + token(24)
    if kind == 5:
        return "github_pat_" + token(22) + "_" + token(59)
    if kind == 6:
        return "sk_test_" + token(24)
    if kind == 7:
        return "glpat-" + token(20)
    return "AIza" + token(35, string.ascii_letters + string.digits + "-_")


# --- sentences with personal values ------------------------------------------

TEMPLATES = {
    "EMAIL": ["Please reply to {} before Friday.", "Écrivez-moi à {} si besoin.", "Kontakt: {}",
              "cc {} on the thread", "Her address is <{}>.", "Send the draft to {}; thanks!"],
    "PHONE": ["Call me on {} after 6pm.", "Mon numéro : {}.", "Tel. {} (office)", "You can reach support at {}.",
              "Rufen Sie {} an.", "Ring {} if the courier is late"],
    "CARD": ["My card number is {} and it expires 04/27.", "Charge {} for the renewal.",
             "Paiement refusé pour la carte {}.", "The customer paid with {}"],
    "IBAN": ["Please wire the refund to {}.", "IBAN : {} (compte joint)", "Bankverbindung: {}",
             "Send it to IBAN {} by Monday"],
    "IP": ["Failed logins from {} this morning.", "The VPN assigned {} to my laptop.",
           "Block {} at the firewall", "Requests came from {}, then stopped."],
    "NATIONAL_ID": ["My social security number is {}.", "Numéro de sécurité sociale : {}", "DNI/NIE: {}",
                    "Codice fiscale {} allegato.", "Identifiant {} sur le formulaire.", "ID {} on file"],
    "SECRET": ["Here is my key {} can you check why it fails?", "export TOKEN_VALUE={}",
               "The CI log printed {} in clear.", "I pasted {} into the config by mistake."],
}
MAKERS = {"EMAIL": email, "PHONE": phone, "CARD": card, "IBAN": iban_value, "IP": ip,
          "NATIONAL_ID": national_id, "SECRET": secret}

for kind, make in MAKERS.items():
    for _ in range(16):
        v = make()
        emit(rng.choice(TEMPLATES[kind]).format(v), pii=[(kind, v)])

# Assigned secrets: the value, not the name, is personal.
for _ in range(10):
    name, value = rng.choice([
        ("password", token(10)), ("DB_PASSWORD", token(14, string.ascii_letters + string.digits + "!#%")),
        ("api_key", token(32, "0123456789abcdef")), ("client_secret", token(24)),
        ("X-Auth-Token", token(28)), ("dbPassword", token(9) + "7!"),
    ])
    form = rng.choice(["{}={}", "{}: {}", '"{}": "{}"', "{}='{}'"])
    emit("config: " + form.format(name, value), pii=[("SECRET", value)])

for _ in range(4):
    value = token(32)
    emit(f"curl -H 'Authorization: Bearer {value}' https://api.example.com/v1/me", pii=[("SECRET", value)])

body = "\n".join(token(64, string.ascii_letters + string.digits + "+/") for _ in range(4))
emit(f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\nwhy does ssh reject this?",
     pii=[("SECRET", f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----")])
body = "\n".join(token(70, string.ascii_letters + string.digits + "+/") for _ in range(3))
emit(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----",
     pii=[("SECRET", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----")])

# Mixed lines: several values, with look-alikes that must stay.
for _ in range(30):
    e, p, c = email(), phone(), card()
    order = luhn_break(luhn_complete("4", 16))
    emit(f"Customer {e} ({p}) paid order {order} with card {c}.",
         pii=[("EMAIL", e), ("PHONE", p), ("CARD", c)], keep=[order])

for _ in range(10):
    i, n = iban_value(), national_id()
    emit(f"Dossier v2.{rng.randrange(1, 20)}: IBAN {i}, identifiant {n}, reçu le 2024-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}.",
         pii=[("IBAN", i), ("NATIONAL_ID", n)])

# --- look-alikes that must stay in clear --------------------------------------

def keep_line(template, *values, category=None):
    emit(template.format(*values), keep=values, category=category)


for _ in range(10):
    num = luhn_break(luhn_complete(rng.choice("3456"), 16))
    keep_line("Your order number is {}.", rng.choice([num, group4(num)]), category="CARD")
for _ in range(8):
    good = rng.choice(TEST_IBANS).replace(" ", "")
    bad = good[:2] + "%02d" % ((int(good[2:4]) + 1) % 100) + good[4:]
    keep_line("Reference {} (not an IBAN, the check fails).", rng.choice([bad, group4(bad)]), category="IBAN")
for _ in range(6):
    keep_line("Upgrade from {} to {} fixed it.", "%d.%d.%d.%d.%d" % tuple(rng.randrange(10) for _ in range(5)),
              "v%d.%d.%d" % (rng.randrange(1, 5), rng.randrange(30), rng.randrange(10)))
for _ in range(8):
    y, m, d = rng.randrange(1990, 2030), rng.randrange(1, 13), rng.randrange(1, 29)
    keep_line("Meeting moved from {} to {} at {}.", f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}",
              f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}")
for _ in range(6):
    keep_line("The total is {} (was {}).", f"${rng.randrange(1, 9)},{rng.randrange(100, 999)}.{rng.randrange(10, 99)}",
              f"{rng.randrange(10, 99)} {rng.randrange(100, 999)},{rng.randrange(10, 99)} €")
for isbn in ["978-3-16-148410-0", "0-306-40615-2", "978-0-596-52068-7", "ISBN 9780306406157"]:
    keep_line("Cite the book {} in the bibliography.", isbn)
for _ in range(6):
    u = "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
                                       rng.getrandbits(16), rng.getrandbits(48))
    keep_line("Request id {} returned 502.", u)
for _ in range(6):
    sha = "%040x" % rng.getrandbits(160)
    keep_line("Bisect points at commit {} (short {}).", sha, sha[:7])
for _ in range(4):
    keep_line("Listen on {} and {} only.", "127.0.0.1:" + str(rng.randrange(1024, 65535)), "::1")
for _ in range(4):
    keep_line("Timestamp {} ms, build {}.", "17%011d" % rng.randrange(10 ** 11), "2024%04d" % rng.randrange(10000))
for _ in range(4):
    keep_line("The population was {} in {}.", f"{rng.randrange(100, 999)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}",
              str(rng.randrange(1900, 2024)))
for text, values in [
    ("Bearer tokens expire after an hour; rotate the key: see the docs.", ["Bearer tokens", "key: see"]),
    ("Set token_limit=4096 and max_tokens: 512 in the request.", ["token_limit=4096", "max_tokens: 512"]),
    ("The monkey=banana test and key=value pairs are fine.", ["monkey=banana", "key=value"]),
    ("Use std::vector and x[1::2] in the snippet.", ["std::vector", "x[1::2]"]),
    ("MAC 00:1a:2b:3c:4d:5e is the printer.", ["00:1a:2b:3c:4d:5e"]),
    ("Install scikit-learn (sk-learn) 1.4.2 first.", ["sk-learn", "1.4.2"]),
    ("The colour #ff8800 and rgb(255, 136, 0) match.", ["#ff8800", "rgb(255, 136, 0)"]),
    ("Error 0x80070005 at line 1234567, column 89.", ["0x80070005", "1234567"]),
    ("-----BEGIN PUBLIC KEY----- blocks may be shared freely.", ["-----BEGIN PUBLIC KEY-----"]),
    ("Flight AF1234 leaves gate 42 at 10:35.", ["AF1234", "10:35"]),
    ("Room 3.14, extension 4471, floor 2.", ["3.14", "4471"]),
    ("Part number 1234-5678-90 and SKU 55501234.", ["1234-5678-90", "55501234"]),
    ("The ratio 16:9 and the range 10-20 are typical.", ["16:9", "10-20"]),
    ("Version 1.2.3.4 of the driver is installed.", ["1.2.3.4"]),
    ("Password: reset it from the account page.", ["reset"]),
    ("Invoice 123456782 is overdue.", ["123456782"]),
    ("Math: 2+2=4 and 10*3=30.", ["2+2=4", "10*3=30"]),
    ("Ticket JIRA-4821 and PR #9917 are linked.", ["JIRA-4821", "#9917"]),
    ("Coordinates 48.8566, 2.3522 are Paris.", ["48.8566", "2.3522"]),
    ("The hash sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 matches.",
     ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]),
]:
    emit(text, keep=values)

# Plain prose: nothing to find, nothing to keep in particular.
for text in [
    "Summarise the meeting notes in three bullet points.",
    "Explique-moi la différence entre TCP et UDP.",
    "Wie spät ist es in Tokio, wenn es in Berlin 9 Uhr ist?",
    "Write a haiku about autumn rain.",
    "Translate 'good morning' into Italian and Dutch.",
    "What is the complexity of quicksort in the worst case?",
]:
    emit(text)

# --- issue 13: the gaps an adversarial review found --------------------------
# A second generator, so that the lines above stay as they were.

rng2 = random.Random(20261127)


def digits2(n):
    return "".join(rng2.choice(string.digits) for _ in range(n))


def ssn_ok(area, group, serial):
    return area not in (0, 666) and area < 900 and group != 0 and serial != 0


def ssn():
    while True:
        a, g, s = rng2.randrange(1, 900), rng2.randrange(1, 100), rng2.randrange(1, 10000)
        if ssn_ok(a, g, s):
            return f"{a:03d}", f"{g:02d}", f"{s:04d}"


NINO_FIRST = [c for c in string.ascii_uppercase if c not in "DFIQUV"]
NINO_SECOND = [c for c in string.ascii_uppercase if c not in "DFIOQUV"]


def nino():
    while True:
        p = rng2.choice(NINO_FIRST) + rng2.choice(NINO_SECOND)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            return p, digits2(6), rng2.choice("ABCD")


def mod11_10(d10):
    product = 10
    for c in d10:
        total = (int(c) + product) % 10 or 10
        product = total * 2 % 11
    check = 11 - product
    return "0" if check == 10 else str(check)


def steuer_structure_ok(d10):
    counts = [d10.count(c) for c in set(d10)]
    repeated = [n for n in counts if n > 1]
    if len(repeated) != 1 or repeated[0] > 3:
        return False
    return not any(d10[k] == d10[k + 1] == d10[k + 2] for k in range(8))


def steuer_id():
    while True:
        d10 = str(rng2.randrange(1, 10)) + digits2(9)
        if steuer_structure_ok(d10):
            return d10 + mod11_10(d10)


def be_valid(n11):
    n, check = int(n11[:9]), int(n11[9:])
    mm, dd = int(n11[2:4]), int(n11[4:6])
    if mm > 52 or mm % 20 > 12 or dd > 31:
        return False
    return 97 - n % 97 == check or 97 - (2_000_000_000 + n) % 97 == check


def steuer_valid(n11):
    return n11[0] != "0" and steuer_structure_ok(n11[:10]) and mod11_10(n11[:10]) == n11[10]


def passport_number():
    kind = rng2.randrange(6)
    up = string.ascii_uppercase
    if kind == 0:
        return str(rng2.randrange(1, 10)) + digits2(8)
    if kind == 1:
        return rng2.choice(up) + digits2(8)
    if kind == 2:
        return "".join(rng2.choice(up) for _ in range(2)) + digits2(7)
    if kind == 3:
        return "".join(rng2.choice(up) for _ in range(3)) + digits2(6)
    if kind == 4:
        return digits2(2) + "".join(rng2.choice(up) for _ in range(2)) + digits2(5)
    alphabet = "CFGHJKLMNPRTVWXYZ0123456789"
    while True:
        v = rng2.choice("CFGHJK") + "".join(rng2.choice(alphabet) for _ in range(8))
        if sum(c.isdigit() for c in v) >= 3:
            return v


INTL_LOCAL = ["josé.garcía", "müller", "françois", "øyvind", "zoë.martin", "иван", "用户", "δοκιμή", "yusuf.çelik", "ana.nuñez"]
INTL_DOMAIN = ["bücher.example", "exämple.com", "пример.испытание", "例子.测试", "δοκιμή.example", "example.xn--0zwm56d",
               "mail.example.com", "exemple.fr"]

# Internationalised e-mail addresses.
for _ in range(14):
    v = f"{rng2.choice(INTL_LOCAL)}@{rng2.choice(INTL_DOMAIN)}"
    emit(rng2.choice(["Écrivez à {} merci.", "Kontakt: {}", "Send it to {} today", "メール {} まで"]).format(v),
         pii=[("EMAIL", v, "EMAIL_INTL")])

# Obfuscated addresses. The bare word "at" with an uncommon top-level
# domain is left alone by design: those lines measure what that costs.
OBF = [
    "{l} [at] {d} [dot] {t}", "{l}(at){d}.{t}", "{l} (at) {d} (dot) {t}", "{l}{{at}}{d}{{dot}}{t}",
    "{l} [AT] {d} [DOT] {t}", "{l}[@]{d}.{t}", "{l}@{d}[dot]{t}", "{l} (arobase) {d} (point) {t}",
    "{l} at {d} dot {t}", "{l} AT {d} DOT {t}", "{l} @ {d}.{t}",
]
for k in range(22):
    form = OBF[k % len(OBF)]
    local = rng2.choice(["jane.doe", "marie", "lukas_m", "sofia", "p.dupont"])
    tld = rng2.choice(["com", "org", "fr", "de", "net"])
    v = form.format(l=local, d=rng2.choice(["example", "mail-example", "exemple"]), t=tld)
    emit(rng2.choice(["Reach me: {}", "mail {} for the slides", "Mon adresse : {}."]).format(v),
         pii=[("EMAIL", v, "EMAIL_OBFUSCATED")])
for v in ["jane at example dot xyz", "marie at exemple dot paris"]:
    emit(f"Her address is {v} (spelled out).", pii=[("EMAIL", v, "EMAIL_OBFUSCATED")])

# Lower-case IBANs.
for _ in range(10):
    v = iban_value().lower()
    emit(rng2.choice(["iban {} please", "Virement sur {} svp", "send to {}"]).format(v), pii=[("IBAN", v, "IBAN_LOWER")])

# US social security numbers.
for k in range(14):
    a, g, s = ssn()
    v = [f"{a}-{g}-{s}", f"{a} {g} {s}", f"{a}{g}{s}"][k % 3]
    template = "SSN: {}" if k % 3 == 2 else rng2.choice(["My SSN is {}.", "social security number {}", "Employee {} onboarded"])
    emit(template.format(v), pii=[("NATIONAL_ID", v, "SSN")])

# UK National Insurance numbers.
for k in range(14):
    p, d, s = nino()
    v = f"{p}{d}{s}" if k % 2 else f"{p} {d[0:2]} {d[2:4]} {d[4:6]} {s}"
    emit(rng2.choice(["NI number {}", "My National Insurance number is {}.", "NINO: {}", "payroll ref {} attached"]).format(v),
         pii=[("NATIONAL_ID", v, "NINO")])

# German tax identification numbers.
for k in range(14):
    n = steuer_id()
    v = n if k % 2 else f"{n[0:2]} {n[2:5]} {n[5:8]} {n[8:11]}"
    emit(rng2.choice(["Steuer-ID {}", "Meine Steuerliche IdNr: {}", "tax id {} for the form", "Identifikationsnummer {}."]).format(v),
         pii=[("NATIONAL_ID", v, "STEUER_ID")])

# Passport numbers: after a word naming them in several languages, and
# a few without one, which are missed by design.
PASSPORT_TEMPLATES = ["passport number {}", "My passport is {}.", "Reisepassnummer: {}", "numéro de passeport : {}",
                      "pasaporte {}", "Passaporto n. {}", "paspoort {}", "PASSPORT NO.: {}"]
for k in range(16):
    v = passport_number()
    emit(PASSPORT_TEMPLATES[k % len(PASSPORT_TEMPLATES)].format(v), pii=[("PASSPORT", v, "PASSPORT")])
for _ in range(4):
    v = passport_number()
    emit(f"Document no. {v} was scanned at the border.", pii=[("PASSPORT", v, "PASSPORT")])

# Look-alikes of the new categories.
for _ in range(4):
    a = rng2.choice(["000", "666", "9" + digits2(2)])
    keep_line("Ticket {} is closed.", f"{a}-{digits2(2)}-{rng2.randrange(1, 9999):04d}", category="SSN")
for _ in range(2):
    keep_line("Ticket {} is closed.", f"{rng2.randrange(1, 900):03d}-00-{digits2(4)}", category="SSN")
for _ in range(2):
    keep_line("Ticket {} is closed.", f"{rng2.randrange(1, 900):03d}-{rng2.randrange(10, 99)}-0000", category="SSN")
for _ in range(4):
    keep_line("Order {} shipped, part {}.", str(rng2.randrange(100_000_000, 999_999_999)),
              f"{rng2.randrange(10, 99)}-{rng2.randrange(100, 899)}-{rng2.randrange(10, 99)}-{digits2(4)}", category="SSN")
for _ in range(8):
    p = rng2.choice(["QQ", "DA", "FA", "AO", "AD", "GB", "NK", "ZZ", "TN", "BG"])
    keep_line("Product code {} is discontinued.", f"{p}{digits2(6)}{rng2.choice('ABCD')}", category="NINO")
for _ in range(4):
    p, d, _ = nino()
    keep_line("Product code {} is discontinued.", f"{p}{d}{rng2.choice('EFGXZ')}", category="NINO")
for _ in range(12):
    while True:
        kind = rng2.randrange(3)
        n = steuer_id()
        if kind == 0:  # wrong check digit
            n = n[:10] + str((int(n[10]) + rng2.randrange(1, 10)) % 10)
        elif kind == 1:  # ten distinct digits, checked
            d = list("0123456789")
            rng2.shuffle(d)
            n = "".join(d) + mod11_10("".join(d))
        else:  # an order number
            n = str(rng2.randrange(10 ** 10, 10 ** 11))
        if n[0] != "0" and not steuer_valid(n) and not be_valid(n):
            break
    keep_line("Invoice {} paid.", n, category="STEUER_ID")
for _ in range(4):
    keep_line("Timestamp {} (unix {}).", str(rng2.randrange(1_600_000_000_000, 1_800_000_000_000)),
              str(rng2.randrange(1_600_000_000, 1_800_000_000)), category="STEUER_ID")
for _ in range(8):
    keep_line("Order {} and ticket {} are linked.", passport_number(), passport_number(), category="PASSPORT")
for text, values in [
    ("The passport photo must be 35x45 mm.", ["35x45"]),
    ("My passport expires 2027-05-01.", ["2027-05-01"]),
    ("Passport fees rose to 110 USD in 2024.", ["110", "2024"]),
    ("The passport office served 12345678 visitors.", ["12345678"]),
    ("Compass heading 123456789 was logged.", ["123456789"]),
    ("Passport renewal takes six weeks and costs far too much: 123456789", ["123456789"]),
]:
    emit(text, keep=values, category="PASSPORT")
for _ in range(6):
    good = rng2.choice(TEST_IBANS).replace(" ", "").lower()
    bad = good[:2] + "%02d" % ((int(good[2:4]) + 1) % 100) + good[4:]
    keep_line("ref {} (check fails)", bad, category="IBAN_LOWER")
for _ in range(4):
    keep_line("digest {} verified", "%040x" % rng2.getrandbits(160), category="IBAN_LOWER")
for text, values in [
    ("Look at example.com for details.", ["Look at example.com"]),
    ("We met at home dot later.", ["at home dot later"]),
    ("x at y dot z, and 5 at 3 dot 2.", ["x at y dot z", "5 at 3 dot 2"]),
    ("Look (at) this, then (dot) that.", ["Look (at) this"]),
    ("Ping @ channel.general and @ here.", ["Ping @ channel.general"]),
    ("Attach [dot] files at once.", ["Attach [dot] files at once"]),
    ("Staring at the screen. Com truise sang.", ["at the screen. Com"]),
    ("Arrive at 10 dot 30 sharp.", ["at 10 dot 30"]),
]:
    emit(text, keep=values, category="EMAIL_OBFUSCATED")
for text, values in [
    ("Ping @équipe and @zoë on the thread.", ["@équipe", "@zoë"]),
    ("Ça coûte 5 € @ la pièce.", ["5 € @ la pièce"]),
    ("C'est à Zoë, ça.", ["Zoë"]),
]:
    emit(text, keep=values, category="EMAIL_INTL")

for line in LINES:
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
