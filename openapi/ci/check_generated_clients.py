#!/usr/bin/env python3
"""Checks of the generator matrix (openapi/ci/generators.sh) on generated
clients. Standard library only. Each command prints what it checked and
exits 1 with the reasons when a check fails.

  check_generated_clients.py generator-output LOG
      openapi-python-client's output has no warning: every line other than
      "Generating <path>" is one (e.g. "Unable to parse schema ...",
      "... Endpoint will not be generated.").
  check_generated_clients.py operations GENERATOR DOC DIR
      every operationId of DOC has its function / method in the client that
      GENERATOR wrote to DIR (GENERATOR: openapi-python-client,
      openapi-generator-python, typescript-fetch, kotlin, hey-api).
  check_generated_clients.py unknown-types DIR
      no generated code names a type made of a `{"type": "null"}` schema
      (`Null`, `ModelNull`, `AnyOfNull`, imports of `./Null`, a `Null.kt` /
      `null.py` model) and, for Kotlin, every import of a model resolves.
  check_generated_clients.py kotlin-oneof DOC DIR
      every `oneOf` request body of DOC is a sealed interface in the Kotlin
      client with one wrapper per branch, each wrapping a class that carries
      exactly that branch's properties (not one class merging all branches).
"""

import json
import re
import sys
from pathlib import Path

SOURCE_SUFFIXES = {".py", ".ts", ".kt"}


def fail(reasons: list[str], details: list[str] = ()) -> int:
    for reason in reasons:
        print(f"  FAIL: {reason}", file=sys.stderr)
    for detail in details:
        print(f"    {detail}", file=sys.stderr)
    return 1


def sources(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            yield path


def operation_ids(doc: dict) -> list[str]:
    ids = []
    for item in doc["paths"].values():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                ids.append(operation["operationId"])
    return ids


def words(operation_id: str) -> list[str]:
    parts = re.split(r"[^A-Za-z0-9]+", operation_id)
    out = []
    for part in parts:
        out += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", part)
    return [w.lower() for w in out if w]


def snake(operation_id: str) -> str:
    return "_".join(words(operation_id))


def camel(operation_id: str) -> str:
    first, *rest = words(operation_id)
    return first + "".join(w.capitalize() for w in rest)


def cmd_generator_output(log: str) -> int:
    text = Path(log).read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    noise = [line for line in lines if not re.fullmatch(r"Generating \S+", line.strip())]
    if noise:
        first = next((line for line in noise if re.search(r"WARNING|Unable|will not", line)), noise[0])
        return fail([f"openapi-python-client warns: {first.strip()}"], [f"| {line}" for line in noise[:80]])
    print("  openapi-python-client printed no warning")
    return 0


def cmd_operations(generator: str, doc_path: str, directory: str) -> int:
    doc = json.loads(Path(doc_path).read_text(encoding="utf-8"))
    root = Path(directory)
    ids = operation_ids(doc)
    if generator == "openapi-python-client":
        # one module per operation: <package>/api/<tag>/<snake_case>.py
        modules = {p.stem: p for p in root.glob("*/api/**/*.py")}

        def found(op: str) -> bool:
            path = modules.get(snake(op))
            return path is not None and "def sync_detailed(" in path.read_text(encoding="utf-8")

        how = "module <package>/api/<tag>/<snake_case>.py with sync_detailed()"
    else:
        if generator == "openapi-generator-python":
            files, pattern, how = root.glob("*/api/*.py"), r"    def {snake}\(", "method <snake_case>()"
        elif generator == "typescript-fetch":
            files, pattern, how = root.glob("apis/*.ts"), r"\basync {camel}\(", "method async <camelCase>()"
        elif generator == "kotlin":
            files, pattern, how = root.glob("src/main/kotlin/**/apis/*.kt"), r"\bfun {camel}\(", "fun <camelCase>()"
        elif generator == "hey-api":
            files, pattern, how = [root / "sdk.gen.ts"], r"^export const {camel} = ", "export const <camelCase>"
        else:
            return fail([f"unknown generator {generator}"])
        text = "\n".join(p.read_text(encoding="utf-8") for p in files if p.is_file())

        def found(op: str) -> bool:
            regex = pattern.format(snake=re.escape(snake(op)), camel=re.escape(camel(op)))
            return re.search(regex, text, re.MULTILINE) is not None

    missing = [op for op in ids if not found(op)]
    if missing:
        return fail([f"{generator}: no {how} for operationId {op}" for op in missing])
    print(f"  all {len(ids)} operations present ({how})")
    return 0


NULL_TYPE = re.compile(r"\b(?:Model|AnyOf|OneOf)?Null\b")
NULL_IMPORT = re.compile(r"""['"]\.{1,2}/(?:models/)?Null['"]|\bmodels\.null\b|\bmodel_null\b""")
NULL_FILES = {"Null.ts", "Null.kt", "ModelNull.kt", "null.py", "model_null.py", "AnyOfNull.kt"}
KOTLIN_MODEL_IMPORT = re.compile(r"^import ((?:\w+\.)+models)\.(\w+)$", re.MULTILINE)


def cmd_unknown_types(directory: str) -> int:
    root = Path(directory)
    reasons = []
    kotlin_files = {str(p.relative_to(root)).split("kotlin/", 1)[-1] for p in root.rglob("*.kt")}
    for path in sources(root):
        rel = path.relative_to(root)
        if path.name in NULL_FILES:
            reasons.append(f"{rel}: a model made of a null-only schema")
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if NULL_TYPE.search(line) or NULL_IMPORT.search(line):
                reasons.append(f"{rel}:{number}: {line.strip()}")
        if path.suffix == ".kt":
            for package, name in KOTLIN_MODEL_IMPORT.findall(text):
                if f"{package.replace('.', '/')}/{name}.kt" not in kotlin_files:
                    reasons.append(f"{rel}: imports {package}.{name}, which was not generated")
    if reasons:
        return fail([f"names a type that does not exist: {reasons[0]}"], reasons[1:60])
    print("  no Null / ModelNull / AnyOfNull types, every model import resolves")
    return 0


def resolve(doc: dict, schema: dict) -> tuple[str | None, dict]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return name, doc["components"]["schemas"][name]
    return None, schema


def carried(schema: dict) -> set[str]:
    """Properties a branch can carry with a value (null-only ones cannot)."""
    return {
        name
        for name, prop in schema.get("properties", {}).items()
        if prop.get("type") != "null" and prop.get("const", 0) is not None
    }


def cmd_kotlin_oneof(doc_path: str, directory: str) -> int:
    doc = json.loads(Path(doc_path).read_text(encoding="utf-8"))
    models = {p.stem: p for p in Path(directory).glob("src/main/kotlin/**/models/*.kt")}
    unions = set()
    for item in doc["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            name, schema = resolve(doc, body.get("schema", {}))
            if name and "oneOf" in schema:
                unions.add(name)
    reasons = []
    for union in sorted(unions):
        schema = doc["components"]["schemas"][union]
        discriminator = schema.get("discriminator", {}).get("propertyName")
        path = models.get(union)
        if path is None:
            reasons.append(f"{union}: no {union}.kt")
            continue
        text = path.read_text(encoding="utf-8")
        if not re.search(rf"^sealed interface {union}\b", text, re.MULTILINE):
            kind = re.search(rf"^(?:data class|class|interface) {union}\b", text, re.MULTILINE)
            reasons.append(
                f"{union}: not a sealed interface but `{kind.group(0) if kind else '?'}`: "
                "the branches are merged into one class that cannot stand for each branch on its own"
            )
            continue
        wrapped = re.findall(rf"value class (\w+)\(val value: (\w+)\) : {union}\b", text)
        branch_props = {}
        for wrapper, cls in wrapped:
            cls_path = models.get(cls)
            if cls_path is None:
                reasons.append(f"{union}: wrapper {wrapper} wraps {cls}, which was not generated")
                continue
            cls_text = cls_path.read_text(encoding="utf-8")
            if not re.search(rf"^data class {cls}\b", cls_text, re.MULTILINE):
                reasons.append(f"{union}: {cls} is not a data class")
            branch_props[cls] = set(re.findall(r'@SerialName\(value = "([^"]+)"\)\s*\n\s*val ', cls_text))
        branches = schema["oneOf"]
        if len(wrapped) != len(branches):
            reasons.append(f"{union}: {len(wrapped)} wrappers for {len(branches)} branches")
        described = []
        for index, branch in enumerate(branches):
            name, branch_schema = resolve(doc, branch)
            want = carried(branch_schema)
            label = name or branch_schema.get("title") or f"branch {index}"
            matches = [
                cls
                for cls, props in branch_props.items()
                if props == want or (discriminator and props == want - {discriminator})
            ]
            if name and name in branch_props and name not in matches:
                reasons.append(f"{union}: {name}.kt carries {sorted(branch_props[name])}, the branch {sorted(want)}")
            elif not matches:
                reasons.append(f"{union}: no wrapped class carries exactly {label}'s properties {sorted(want)}")
            else:
                described.append(f"{label}({', '.join(sorted(want))})")
        if len(set(cls for _, cls in wrapped)) != len(wrapped):
            reasons.append(f"{union}: two wrappers wrap the same class")
        if not any(r.startswith(f"{union}:") for r in reasons):
            print(f"  {union}: sealed interface; " + "; ".join(described))
    if not unions:
        reasons.append("no oneOf request body found in the document")
    if reasons:
        return fail(reasons)
    return 0


def main(argv: list[str]) -> int:
    commands = {
        "generator-output": (cmd_generator_output, 1),
        "operations": (cmd_operations, 3),
        "unknown-types": (cmd_unknown_types, 1),
        "kotlin-oneof": (cmd_kotlin_oneof, 2),
    }
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    function, _ = commands[argv[1]]
    return function(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
