"""A generic three-method source for tests/python/test_hardening_secrets.py that fails where its
``where`` option says (infer, plan, read, iterate, convert) and echoes its options in its own error
when ``echo`` is set. Imported by name by headwater and its worker processes."""

from __future__ import annotations


class Failing:
    def infer_schema(self, options):
        if options.get("where") == "infer":
            raise RuntimeError("infer failed" + (f": {dict(options)}" if options.get("echo") else ""))
        return "a INT"

    def plan_partitions(self, options):
        if options.get("where") == "plan":
            raise RuntimeError("plan failed" + (f": {dict(options)}" if options.get("echo") else ""))
        return [{"i": 0, "api_key": options.get("spec_secret", "none"), "note": "plain"}]

    def read_partition(self, spec, options):
        if options.get("where") == "read":
            raise RuntimeError("read_partition failed" + (f": {dict(options)}" if options.get("echo") else ""))
        if options.get("where") == "convert":
            yield ("not an int",)
        yield (1,)
        if options.get("where") == "iterate":
            raise RuntimeError("iteration failed" + (f": {dict(options)}" if options.get("echo") else ""))
