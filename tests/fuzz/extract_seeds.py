"""Seeds for the DDL and Spark JSON fuzz targets: the first string argument of the parse helpers in
the C tests (tests/c/test_ddl.c, tests/c/test_spark_json.c), written one file per input, named by
content hash. Run once by hand; gen_corpus.c then derives the other targets' seeds from these."""
import hashlib
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
LIT = r'"(?:[^"\\\n]|\\.)*"'
CALL = r"\b(%s)\(\s*((?:%s\s*)+)[,)]"


def unescape(lit: str) -> bytes:
    body = lit[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = body[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xFF)
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        else:
            out += {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"', "'": b"'", "0": b"\0"}.get(
                n, n.encode())
            i += 2
    return bytes(out)


def extract(path: pathlib.Path, funcs: list[str]) -> list[bytes]:
    text = path.read_text()
    found = []
    for m in re.finditer(CALL % ("|".join(funcs), LIT), text):
        found.append(b"".join(unescape(lit) for lit in re.findall(LIT, m.group(2))))
    return found


def write(target: str, seeds: list[bytes]) -> None:
    d = root / "tests/fuzz/corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (d / ("seed-" + hashlib.sha1(s).hexdigest()[:16])).write_bytes(s)
    print(target, len(set(seeds)), "seeds", file=sys.stderr)


write("ddl", extract(root / "tests/c/test_ddl.c", ["parse_ok", "parse_fails", "single_field"])
      + extract(root / "tests/c/test_spark_json.c", ["ddl_ok"]))
write("spark_json", extract(root / "tests/c/test_spark_json.c", ["json_ok", "json_fails"]))
