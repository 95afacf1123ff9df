"""Storage failures told apart from other errors (run directories, the training cache)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


def disk_full(exc: BaseException, path: Path) -> OSError | None:
    """``exc`` as a clear "no space left on device while writing PATH" error if it is one:
    ENOSPC/EDQUOT from Python, or torch's "file write failed" (which hides the errno) on a
    device with (nearly) no space left; None for any other failure."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        pass
    elif isinstance(exc, RuntimeError) and "write failed" in str(exc):
        try:
            free = shutil.disk_usage(path.parent if not path.exists() else path).free
        except OSError:
            return None
        if free > 1 << 20:
            return None
    else:
        return None
    return OSError(errno.ENOSPC, f"no space left on device while writing '{path}'")
