"""Imported first by ``multiverse.chain``: undoes py_ecc's import-time recursion limit.

py_ecc (under eth-tester, py-evm and eth-account) raises the recursion limit to 100,000 when imported: deep
recursion (``json.loads`` of nested input, say) then overflows a thread's C stack and kills the process instead
of raising RecursionError. Its optimized curves, which py-evm's precompiles use, do not recurse deeply, so the
limit goes back to what it was. py-evm then sets 12,288 for 1,024 nested EVM calls, which a thread's stack holds
(JSON nested 12,000 deep parses; deeper raises RecursionError).
"""

from __future__ import annotations

import sys

_limit = sys.getrecursionlimit()
import py_ecc  # noqa: E402,F401 - for its import-time side effect, undone on the next line

sys.setrecursionlimit(_limit)
