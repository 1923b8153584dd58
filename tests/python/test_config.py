"""The declared settings (headwater/config.py): typed values as Spark parses its own, and Spark's
error for a value of the wrong type (probed on PySpark 4.3.0: ``spark.conf.set`` refuses it at once
with IllegalArgumentException INVALID_CONF_VALUE.TYPE_MISMATCH, trims the value, and takes times
as 10000, 10000ms, 10s, 1min, 2h)."""

import pytest

from headwater.config import RuntimeConfig, get
from headwater.errors import IllegalArgumentException

IDLE = "spark.sql.streaming.noDataProgressEventInterval"


@pytest.mark.parametrize("text, ms", [("10000", 10000), ("250ms", 250), ("10s", 10000), ("1min", 60000),
                                      ("2m", 120000), ("2h", 7200000), ("1d", 86400000), ("1500us", 1),
                                      (" 3S ", 3000), ("-5", -5)])
def test_times_are_read_as_spark_reads_them(text, ms):
    conf = RuntimeConfig()
    conf.set(IDLE, text)
    assert conf.get(IDLE) == text  # kept as given, as Spark keeps it
    assert get(conf, IDLE) == ms


def test_defaults_are_spark_s_text():
    conf = RuntimeConfig()
    assert conf.get(IDLE) == "10000ms" and get(conf, IDLE) == 10000
    assert conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") == "10000"


@pytest.mark.parametrize("key, value, kind", [
    (IDLE, "1.5s", "time in MILLISECONDS"), (IDLE, "bogus", "time in MILLISECONDS"),
    ("spark.sql.execution.arrow.maxRecordsPerBatch", "abc", "int"),
    ("spark.sql.execution.arrow.maxRecordsPerBatch", "1.5", "int"),
    ("spark.sql.execution.arrow.maxRecordsPerBatch", "1_000", "int"),  # Python's int() takes it; Java's does not
    ("spark.sql.repl.eagerEval.enabled", "yes", "boolean"),
    ("spark.sql.python.filterPushdown.enabled", "1", "boolean"),
])
def test_a_spark_setting_of_the_wrong_type_is_refused_when_set(key, value, kind):
    conf = RuntimeConfig()
    before = conf.get(key)
    with pytest.raises(IllegalArgumentException) as e:
        conf.set(key, value)
    assert e.value.getErrorClass() == "INVALID_CONF_VALUE.TYPE_MISMATCH"
    assert e.value.message == (f"The value '{value}' in the config \"{key}\" is invalid. "
                               f"It should be a/an '{kind}' value.")
    assert conf.get(key) == before  # nothing stored


def test_spark_settings_are_trimmed_and_booleans_case_blind():
    conf = RuntimeConfig()
    conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", " 7 ")
    conf.set("spark.sql.repl.eagerEval.enabled", " TRUE ")
    conf.set("spark.sql.python.filterPushdown.enabled", False)
    assert get(conf, "spark.sql.execution.arrow.maxRecordsPerBatch") == 7
    assert get(conf, "spark.sql.repl.eagerEval.enabled") is True
    assert get(conf, "spark.sql.python.filterPushdown.enabled") is False


def test_headwater_settings_are_checked_when_read():
    # not at set(): headwater's own settings name the action that reads them (e.g. cancelGraceMs)
    conf = RuntimeConfig()
    conf.set("headwater.sql.pushdown", "maybe")
    with pytest.raises(IllegalArgumentException, match="'maybe' in the config \"headwater.sql.pushdown\""):
        get(conf, "headwater.sql.pushdown")
    conf = RuntimeConfig({"spark.sql.repl.eagerEval.maxNumRows": "x"})  # a builder's config(): read time
    with pytest.raises(IllegalArgumentException, match="should be a/an 'int' value"):
        get(conf, "spark.sql.repl.eagerEval.maxNumRows")
