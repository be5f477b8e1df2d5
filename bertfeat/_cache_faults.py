"""How the disk cache meets a failing disk: every fault ends in a warning and a recompute,
never in a wrong vector or a crash.

- an unreadable or unwritable folder turns the cache off for this instance, with one warning
  (:meth:`CacheFaults._disable`);
- a damaged index ("file is not a database" / "malformed") is moved aside once, with one
  warning; this process goes on uncached, the next one starts a fresh index
  (:meth:`CacheFaults._index_damaged`);
- a damaged record (key, crc32 or row out of the file) goes to the ``quarantine`` table and
  is recomputed; where the index is read-only it is skipped from then on
  (:meth:`CacheFaults._quarantine`).

:class:`~bertfeat._cache.VectorCache` inherits these; they use its folder, its flags
(``disabled_reason``, ``_unreadable``, ``_writable``) and its pending rows.
"""

from __future__ import annotations

import os
import time
import warnings

from bertfeat import _cache_index as index


class CacheFaults:
    """The fault handling of :class:`~bertfeat._cache.VectorCache` (a mixin: no state of its own)."""

    def _disable(self, action: str, exc: BaseException, stacklevel: int = 4) -> None:
        if action == "read":
            self._unreadable = True
        if self.disabled_reason is not None:
            return
        self.disabled_reason = f"{type(exc).__name__}: {exc}"
        what = "going on without it" if action == "read" else "going on without storing vectors"
        warnings.warn(
            f"bertfeat cache at {str(self.folder)!r} cannot be {action} ({self.disabled_reason}); "
            f"{what} (results are unaffected)",
            RuntimeWarning,
            stacklevel=stacklevel,
        )

    def _index_damaged(self, exc: BaseException) -> None:
        """Move a damaged index aside (once), warn once, go on without the cache."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = False
        self.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.replace(self.folder / (index.INDEX_NAME + suffix), self.folder / f"{index.INDEX_NAME}.corrupt-{stamp}{suffix}")
                moved = moved or suffix == ""
            except OSError:
                pass
        where = f"moved aside to {index.INDEX_NAME}.corrupt-{stamp}" if moved else "left in place (cannot be moved)"
        self._unreadable = True
        if self.disabled_reason is None:
            self.disabled_reason = f"damaged index: {exc}"
            warnings.warn(
                f"bertfeat cache at {str(self.folder)!r}: the index is damaged ({exc}); {where}; going on "
                "without the cache in this process, the next one starts a fresh index (results are unaffected)",
                RuntimeWarning,
                stacklevel=4,
            )

    def _guarded(self, action: str, work, default=None):
        """Run ``work()``: SQLite damage moves the index aside, I/O errors turn the cache off."""
        try:
            return work()
        except index.sqlite3.DatabaseError as exc:
            if index.is_damage(exc):
                self._index_damaged(exc)
            else:  # locked for too long, disk full, read-only
                self._disable(action, exc, stacklevel=5)
        except OSError as exc:
            self._disable(action, exc, stacklevel=5)
        return default

    def _quarantine(self, db, damaged: list[tuple[int, int, int, str]]) -> None:
        first = damaged[0][3]
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        warnings.warn(
            f"bertfeat cache: damaged entry ignored and recomputed: {first}{more}", RuntimeWarning, stacklevel=5
        )
        try:
            if not self._writable:
                raise PermissionError("the index is open read-only")
            index.quarantine(db, damaged)
        except (OSError, index.sqlite3.OperationalError):  # read-only: skip them from now on
            self._skip.update(d[0] for d in damaged)
        for k, *_ in damaged:
            self._pending.pop(k, None)
