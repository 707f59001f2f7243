"""The append-only JSON-lines file behind a resumable ``coforge map`` (``OUT/map_shapes.jsonl``).

Line 1 pins the run's settings (a dict whose ``kind`` names the store's kind); every
further line is one record, appended, flushed and fsync'ed as soon as it is known; a
finished run, and one ended by an error (:meth:`LineStore.close_failed`), appends
``{"done": true}``. :class:`LineStore` owns the file's rules, the
kinds (:mod:`mapper.hier_store` for a hierarchy spec, :mod:`mapper.map_store` for a
3-level one) own their records:

* Without ``resume`` a run starts a new store, replacing a finished one; an unfinished
  one (no ``done`` line, at least one record) is refused, so forgetting ``--resume``
  never discards a stopped run's work.
* With ``resume`` the store must exist, be of the same kind and hold the same settings
  (or the error names the first setting that differs); a last line cut short by a kill
  is dropped (that record is made again) and the file rewritten atomically (a temporary
  file, then rename); any other line the kind does not accept is an error naming it.
* Every error is one line naming the file and the fix (:class:`ShapeStoreError`).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Callable

from dataflows.errors import CoforgeError

STORE_NAME = "map_shapes.jsonl"
#: The packages whose source decides a stored record (hashed into the settings).
_CODE = ("dataflows", "sim", "mapper")
_DONE = '{"done": true}'


class ShapeStoreError(CoforgeError):
    """A store that cannot be written or resumed (missing, other settings, malformed)."""


@cache
def code_sha256() -> str:
    """sha256 of coforge's ``dataflows``, ``sim`` and ``mapper`` sources (every ``.py``,
    by relative path): a store written by other code is not resumed."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pkg in _CODE:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _kind(line: str) -> str | None:
    """The ``kind`` a store's first line names (None: not a settings line)."""
    try:
        head = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return head.get("kind") if isinstance(head, dict) and isinstance(head.get("kind"), str) \
        else None


def layers_sha256(layers: list[dict[str, Any]]) -> str:
    """sha256 of a network's layer descriptions (``Layer.to_dict`` of each, in order)."""
    return hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode()).hexdigest()


class LineStore:
    """``OUT/map_shapes.jsonl`` of one ``kind`` (module doc). Subclasses give ``KIND``
    and :meth:`accept` (a parsed record line -> its key, or None if it is not a record
    of this kind); :attr:`records` maps each key to its latest record."""

    KIND = ""
    #: What a record line holds, plural and singular (for the error lines).
    RECORDS, RECORD = "records", "record"

    def __init__(self, out_dir: str | Path, meta: dict[str, Any], resume: bool) -> None:
        self.path = Path(out_dir) / STORE_NAME
        self.records: dict[str, dict[str, Any]] = {}
        meta = {"kind": self.KIND} | meta
        if resume:
            self._load(meta)
        else:
            self._refuse_unfinished()
            self._write([json.dumps(meta, sort_keys=True)])
        self.resumed = len(self.records)

    def accept(self, rec: object) -> str | None:
        raise NotImplementedError

    def fail(self, what: str, fix: str) -> ShapeStoreError:
        """The one-line error about this store: what is wrong with it, then the fix."""
        return ShapeStoreError(f"{self.path}: {what}; {fix}")

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise self.fail("not UTF-8 text, so not a coforge map store",
                            "delete it or give another --out") from None
        except OSError as err:
            raise self.fail(f"cannot be read ({err.strerror})",
                            "give an --out you can read and write") from None

    def _write(self, lines: list[str]) -> None:
        """Replace the store by ``lines`` atomically (a temporary file, then rename)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join(x + "\n" for x in lines))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            raise self.fail(f"cannot be written ({err.strerror})",
                            "give an --out on a writable disk with free space") from None

    def _refuse_unfinished(self) -> None:
        if self.path.is_dir():
            raise self.fail("is a directory", "remove it or give another --out")
        if not self.path.exists():
            return
        lines = [x for x in self._read().split("\n") if x.strip()]
        done = any(x.strip() == _DONE for x in lines[1:])
        if len(lines) > 1 and not done:
            kind = _kind(lines[0])
            if kind != self.KIND:
                raise self.fail(f"holds an unfinished run of another kind ({kind or 'unknown'})",
                                "delete the file or give another --out")
            n = len(lines) - 1
            what = self.RECORD if n == 1 else self.RECORDS
            raise self.fail(f"holds an unfinished run ({n} {what} stored)", "pass --resume to "
                            "continue it, or delete the file or give another --out to start "
                            "anew")

    def _load(self, meta: dict[str, Any]) -> None:
        if self.path.is_dir():
            raise self.fail("is a directory", "remove it or give another --out")
        if not self.path.is_file():
            raise ShapeStoreError(f"--resume: {self.path} does not exist; run without "
                                  f"--resume first (it is written as the shapes are found)")
        text = self._read()
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
        cut = None
        if not text.endswith("\n") and lines:
            try:
                json.loads(lines[-1])
            except (json.JSONDecodeError, RecursionError):
                cut = lines.pop()           # a line cut short by a kill: ignored
        try:
            head = json.loads(lines[0]) if lines else None
        except (json.JSONDecodeError, RecursionError):
            head = None
        if not isinstance(head, dict) or head.get("kind") != self.KIND:
            other = f" (it is a store of: {head['kind']})" if isinstance(head, dict) and \
                isinstance(head.get("kind"), str) else ""
            raise self.fail(f"line 1 is not the settings of a store of: {self.KIND}{other}",
                            "give the --out of an earlier run of the same kind, or drop "
                            "--resume")
        for key in meta:
            if head.get(key) != meta[key]:
                raise self.fail(f"the stored run has {key} {head.get(key)!r}, this one "
                                f"{meta[key]!r}", "resume with the same settings and "
                                "code, or drop --resume to start anew (an unfinished store "
                                "must first be deleted, or give another --out)")
        kept = [lines[0]]
        for i, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, RecursionError):     # (a line nested too deep)
                rec = None
            if rec == {"done": True}:
                continue
            key = self.accept(rec)
            if key is None:
                raise self.fail(f"line {i} is not a stored {self.RECORD}",
                                "drop --resume to start anew (or delete that line)")
            self.records[key] = rec
            kept.append(line)
        if cut is not None or len(kept) < len(lines):   # rewrite without the cut/done lines
            self._write(kept)

    def __len__(self) -> int:
        return len(self.records)

    def append(self, key: str, rec: dict[str, Any]) -> None:
        """Append one record (held under ``key``) and force it to disk."""
        self._append(json.dumps(rec))
        self.records[key] = rec

    def finish(self) -> None:
        """Mark the run finished (a later run without ``--resume`` may replace it)."""
        self._append(_DONE)

    def close_failed(self) -> None:
        """After a run ended by an error (not a stop signal): mark the store finished too,
        so the rerun the error asks for (other settings, without ``--resume``) may replace
        it; ``--resume`` still reads its records. A store that cannot be written stays as
        it is (the run's own error is the one reported)."""
        try:
            self.finish()
        except ShapeStoreError:
            pass

    def _append(self, line: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise self.fail(f"cannot be written ({err.strerror})",
                            "give an --out on a writable disk with free space; what is "
                            "stored so far is kept (--resume)") from None


def run_stored(store: LineStore | None, run: Callable[[], Any],
               stored: Callable[[], str]) -> tuple[Any, int | None]:
    """``run()`` under a store's end rules: ``(its result, None)``, the store marked
    finished as soon as it returns (every record is in: a stop while the reports are
    written loses only them); after a stop signal one stderr line ``coforge: stopped by
    SIG: <stored()>`` (what is stored and ``--resume``, or "nothing stored (no --out)")
    and ``(None, exit status 130/143)``; after an error, the store closed
    (:meth:`LineStore.close_failed`: the rerun the error asks for may replace it) and
    the error raised."""
    import sys

    from mapper.run_control import RunStopped, signal_name
    try:
        value = run()
    except RunStopped as stop:
        where = stored() if store is not None else "nothing stored (no --out)"
        print(f"coforge: stopped by {signal_name(stop.signum)}: {where}", file=sys.stderr,
              flush=True)
        return None, stop.exit_code
    except CoforgeError:
        if store is not None:
            store.close_failed()
        raise
    if store is not None:
        store.finish()
    return value, None


__all__ = ["LineStore", "STORE_NAME", "ShapeStoreError", "code_sha256", "layers_sha256",
           "run_stored"]
