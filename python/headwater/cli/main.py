"""``headwater``: the console script (``[project.scripts]`` in pyproject.toml).

Commands: ``read``, ``schema``, ``explain``, ``sql`` and ``sources``. Each builds the same
DataFrame a script would (``spark.read.format(...).options(...).load()``), so the command line and
the Python API cannot disagree. Failures are one line on stderr: exit code 2 for a usage error
(click's, or an argument we refuse), 1 for a failed read or write; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import click

from headwater.errors import HeadwaterException
from headwater.exec.plan import api_classes
from headwater.generic.spark import split_target
from headwater.sql.session import SparkSession

__all__ = ["main", "cli"]

MODES = ("auto", "inline", "thread", "process")
OUT_FORMATS = ("parquet", "csv", "json", "arrow")
# what --to's file extension says, when --format does not
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json",
               ".ndjson": "json", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow"}


# ---------------------------------------------------------------- arguments


def _pairs(values: Sequence[str], what: str) -> List[Tuple[str, str]]:
    """KEY=VALUE arguments, split at the first '='; a usage error names the bad one."""
    out = []
    for v in values:
        key, eq, value = v.partition("=")
        if not eq or not key.strip():
            raise click.UsageError(f"{what} must be KEY=VALUE, got {v!r}")
        out.append((key.strip(), value))
    return out


def _split_columns(values: Sequence[str]) -> List[str]:
    """--select a,b --select 'c + 1 AS d': expressions separated by commas outside parentheses and
    quotes."""
    out: List[str] = []
    for text in values:
        depth, quote, start = 0, "", 0
        for i, ch in enumerate(text):
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"`":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                out.append(text[start:i].strip())
                start = i + 1
        out.append(text[start:].strip())
    empty = [c for c in out if not c]
    if empty:
        raise click.UsageError(f"--select has an empty column in {', '.join(repr(v) for v in values)}")
    return out


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes: the session's settings and the user's modules."""
    for decorator in reversed([
        click.option("--import", "-i", "imports", multiple=True, metavar="MODULE",
                     help="import a module first (its data sources are registered); repeatable"),
        click.option("--conf", "-c", "conf", multiple=True, metavar="KEY=VALUE",
                     help="a session setting (spark.* / headwater.*); repeatable"),
        click.option("--mode", type=click.Choice(MODES), default=None,
                     help="where partitions run (headwater.executor.mode)"),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="threads or worker processes (headwater.executor.workers)"),
        click.option("--progress/--no-progress", default=None,
                     help="the progress bar on stderr (default: when stderr is a terminal)"),
        click.option("--debug", is_flag=True, help="print the full traceback of a failure"),
    ]):
        f = decorator(f)
    return f


def _read_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """How a source is read: its options, schema and paths."""
    for decorator in reversed([
        click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
                     help="a data source option; repeatable"),
        click.option("--schema", "schema", default=None, metavar="DDL", help="the schema, as DDL ('id INT, name STRING')"),
    ]):
        f = decorator(f)
    return f


def _output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """What a command does with the rows: show them, count them or write them."""
    for decorator in reversed([
        click.option("--show", "show", type=click.IntRange(min=0), default=None, metavar="N",
                     help="print the first N rows as a table (default 20)"),
        click.option("--truncate/--no-truncate", default=True, help="cut long values in --show (20 characters)"),
        click.option("--count", "count", is_flag=True, help="print the number of rows instead"),
        click.option("--to", "to", default=None, metavar="PATH", help="write the rows to PATH"),
        click.option("--format", "out_format", type=click.Choice(OUT_FORMATS), default=None,
                     help="the format --to writes (default: from PATH's extension)"),
        click.option("--write-option", "-w", "write_options", multiple=True, metavar="KEY=VALUE",
                     help="an option of the written format (header=true); repeatable"),
        click.option("--overwrite", is_flag=True, help="replace what is at --to (default: fail if it exists)"),
        click.option("--stats", is_flag=True, help="print the run report (per partition) on stderr"),
    ]):
        f = decorator(f)
    return f


# ---------------------------------------------------------------- the session and the sources


def _import_modules(spark: SparkSession, names: Sequence[str]) -> None:
    """Imports each module (from the current directory too, as ``python -m`` does) and registers
    the data sources it defines, unless the module registered them itself."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    source_types = api_classes("DataSource")
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):  # the module itself, not something it imports
                raise click.BadParameter(f"no module named {name!r}", param_hint="--import") from None
            raise
        for obj in list(vars(module).values()):
            if (isinstance(obj, type) and issubclass(obj, source_types) and obj not in source_types
                    and obj.__module__ == module.__name__):
                try:
                    spark._registry.lookup(obj.name())
                except HeadwaterException:  # not known yet under its name: register it
                    spark._registry.register(obj, warn=False, origin=f"--import {name}")


def _session(conf: Sequence[str], mode: Optional[str], workers: Optional[int], progress: Optional[bool],
             imports: Sequence[str]) -> SparkSession:
    builder = SparkSession.builder.appName("headwater")
    for key, value in _pairs(conf, "--conf"):
        builder.config(key, value)
    if mode is not None:
        builder.config("headwater.executor.mode", mode)
    if workers is not None:
        builder.config("headwater.executor.workers", str(workers))
    if progress is not None:
        builder.config("spark.ui.showConsoleProgress", "true" if progress else "false")
    spark = builder.getOrCreate()
    _import_modules(spark, imports)
    return spark


def _load(spark: SparkSession, fmt: str, options: Dict[str, str], schema: Optional[str], paths: Sequence[str]) -> Any:
    """The DataFrame of FORMAT: a registered, discovered or built-in format, or "pkg.module:Class"
    (the three-method interface)."""
    if ":" in fmt:
        module, qualname = split_target(fmt)
        reader = spark.read.format("python").option("python_module", module).option("python_class", qualname)
    else:
        reader = spark.read.format(fmt)
    reader = reader.options(**options)
    if schema:
        reader = reader.schema(schema)
    if not paths:
        return reader.load()
    return reader.load(paths[0] if len(paths) == 1 else list(paths))


def _shape(df: Any, select: Sequence[str], where: Optional[str], limit: Optional[int]) -> Any:
    """--where, then --select, then --limit (a predicate may name a column that is not selected)."""
    if where:
        df = df.filter(where)
    if select:
        df = df.selectExpr(*_split_columns(select))
    if limit is not None:
        df = df.limit(limit)
    return df


# ---------------------------------------------------------------- output


def _out_format(to: str, out_format: Optional[str]) -> str:
    if out_format:
        return out_format
    ext = os.path.splitext(to)[1].lower()
    if ext not in _EXTENSIONS:
        raise click.UsageError(f"cannot tell the format of {to!r} from its extension: give --format "
                               f"({'|'.join(OUT_FORMATS)})")
    return _EXTENSIONS[ext]


def _emit(spark: SparkSession, df: Any, show: Optional[int], truncate: bool, count: bool, to: Optional[str],
          out_format: Optional[str], write_options: Sequence[str], overwrite: bool, stats: bool) -> None:
    if sum(x for x in (show is not None, count, to is not None)) > 1:
        raise click.UsageError("give one of --show, --count and --to")
    if out_format and not to:
        raise click.UsageError("--format names the format of --to: give --to PATH")
    if to is not None:
        fmt = _out_format(to, out_format)
        writer = df.write.format(fmt).mode("overwrite" if overwrite else "errorifexists")
        writer.options(**dict(_pairs(write_options, "--write-option"))).save(to)
        spark._runs.end()
        click.echo(f"wrote {to} ({fmt})", err=True)
    elif count:
        click.echo(df.count())
    else:
        df.show(20 if show is None else show, truncate=truncate)
    if stats:  # the reads, and the write of --to
        report = spark.lastRunReport()
        click.echo(report.format() if report is not None else "no run report: nothing was read", err=True)


# ---------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="headwater", prog_name="headwater", message="%(prog)s %(version)s")
def cli() -> None:
    """Run Python data sources (PySpark's Data Source API, or the three-method Arrow interface)
    from the shell: read, inspect, query with SQL, write.

    FORMAT is a registered or discovered source's name (see `headwater sources`), a built-in
    format (parquet, csv, json, arrow, jdbc, ...) or "pkg.module:Class".
    """


@cli.command()
@click.argument("format")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@_read_options
@click.option("--select", "select", multiple=True, metavar="COLS", help="columns or SQL expressions, comma-separated")
@click.option("--where", "where", default=None, metavar="PREDICATE", help="a SQL predicate ('id > 10')")
@click.option("--limit", "limit", type=click.IntRange(min=0), default=None, metavar="N", help="at most N rows")
@_output_options
@_common
def read(format: str, paths: Tuple[str, ...], options: Tuple[str, ...], schema: Optional[str],
         select: Tuple[str, ...], where: Optional[str], limit: Optional[int], **kw: Any) -> None:
    """Read FORMAT and show the rows (or count them, or write them --to a file)."""
    spark = _session(kw.pop("conf"), kw.pop("mode"), kw.pop("workers"), kw.pop("progress"), kw.pop("imports"))
    kw.pop("debug")
    df = _shape(_load(spark, format, dict(_pairs(options, "--option")), schema, paths), select, where, limit)
    _emit(spark, df, **kw)


@cli.command()
@click.argument("format")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@_read_options
@click.option("--ddl", "as_ddl", is_flag=True, help="print the schema as one line of DDL")
@click.option("--json", "as_json", is_flag=True, help="print the schema as Spark's JSON")
@_common
def schema(format: str, paths: Tuple[str, ...], options: Tuple[str, ...], schema: Optional[str], as_ddl: bool,
           as_json: bool, **kw: Any) -> None:
    """Print the schema of FORMAT (its own, or --schema checked)."""
    spark = _session(kw["conf"], kw["mode"], kw["workers"], kw["progress"], kw["imports"])
    df = _load(spark, format, dict(_pairs(options, "--option")), schema, paths)
    if as_ddl and as_json:
        raise click.UsageError("give one of --ddl and --json")
    if as_ddl:
        click.echo(df._core_schema.to_ddl())
    elif as_json:
        click.echo(df.schema.json())
    else:
        df.printSchema()


@cli.command()
@click.argument("format")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@_read_options
@click.option("--select", "select", multiple=True, metavar="COLS", help="columns or SQL expressions, comma-separated")
@click.option("--where", "where", default=None, metavar="PREDICATE", help="a SQL predicate ('id > 10')")
@click.option("--limit", "limit", type=click.IntRange(min=0), default=None, metavar="N", help="at most N rows")
@_common
def explain(format: str, paths: Tuple[str, ...], options: Tuple[str, ...], schema: Optional[str],
            select: Tuple[str, ...], where: Optional[str], limit: Optional[int], **kw: Any) -> None:
    """Say how a read would run: what is pushed into the source, its partitions, the mode."""
    spark = _session(kw["conf"], kw["mode"], kw["workers"], kw["progress"], kw["imports"])
    df = _shape(_load(spark, format, dict(_pairs(options, "--option")), schema, paths), select, where, limit)
    df.explain()


@cli.command()
@click.argument("query")
@click.option("--view", "views", multiple=True, metavar="NAME=FORMAT",
              help="a source the query reads as the view NAME; repeatable")
@click.option("--option", "-o", "options", multiple=True, metavar="[NAME.]KEY=VALUE",
              help="an option of the view NAME (of every view without the prefix); repeatable")
@click.option("--schema", "schemas", multiple=True, metavar="NAME=DDL", help="the schema of the view NAME")
@_output_options
@_common
def sql(query: str, views: Tuple[str, ...], options: Tuple[str, ...], schemas: Tuple[str, ...], **kw: Any) -> None:
    """Run a SQL QUERY (DuckDB's SQL) over named sources."""
    spark = _session(kw.pop("conf"), kw.pop("mode"), kw.pop("workers"), kw.pop("progress"), kw.pop("imports"))
    kw.pop("debug")
    named = _pairs(views, "--view")
    lowered = {n.lower(): n for n, _ in named}
    per_view: Dict[str, Dict[str, str]] = {n: {} for n, _ in named}
    for key, value in _pairs(options, "--option"):
        prefix, dot, rest = key.partition(".")
        if dot and prefix.lower() in lowered:
            per_view[lowered[prefix.lower()]][rest] = value
        else:
            for opts in per_view.values():
                opts.setdefault(key, value)
    view_schemas: Dict[str, str] = {}
    for name, ddl in _pairs(schemas, "--schema"):
        if name.lower() not in lowered:
            raise click.UsageError(f"--schema names the view {name!r}, which no --view declares")
        view_schemas[lowered[name.lower()]] = ddl
    for name, fmt in named:
        _load(spark, fmt, per_view[name], view_schemas.get(name), ()).createOrReplaceTempView(name)
    _emit(spark, spark.sql(query), **kw)


@cli.command()
@_common
def sources(**kw: Any) -> None:
    """List the data sources FORMAT can name: registered (--import), discovered (entry points of
    the group headwater.datasources, pyspark_* packages) and built in."""
    spark = _session(kw["conf"], kw["mode"], kw["workers"], kw["progress"], kw["imports"])
    rows = [(name, origin, f"{cls.__module__}.{cls.__qualname__}") for name, cls, origin in spark._registry.listing()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(("NAME", "ORIGIN", "CLASS"))]
    for r in [("NAME", "ORIGIN", "CLASS"), *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


# ---------------------------------------------------------------- failures


def _one_line(e: BaseException) -> str:
    """A failure as one line: the error class, the message's first line and, when the message
    carries the source's traceback, the exception that ended it."""
    if isinstance(e, HeadwaterException):
        lines = [ln for ln in e.message.strip().splitlines() if ln.strip()]
        text = lines[0] if lines else type(e).__name__
        if len(lines) > 1 and text.rstrip().endswith(":"):  # "...: \n<traceback>\nValueError: boom"
            text = f"{text.rstrip()} {lines[-1].strip()}"
        return f"[{e.error_class}] {text}" if e.error_class else text
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def main(argv: Optional[Sequence[str]] = None) -> None:
    """The console script: runs a command and turns a failure into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="headwater", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:  # usage errors: exit code 2
        e.show()
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("headwater: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `headwater read ... | head`: the reader went away
        sys.stderr.close()
        sys.exit(1)
    except Exception as e:
        if debug:
            traceback.print_exc()
        click.echo(f"headwater: error: {_one_line(e)}" + ("" if debug else " (--debug for the traceback)"), err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
