"""NR transport blocks against TS 38.214 5.1.3.2 computed by hand."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("sionna.phy")

# TS 38.214 Table 5.1.3.1-1 (MCS table 1): index -> (modulation order, 1024 x code rate)
MCS1 = {0: (2, 120), 10: (4, 340), 20: (6, 567), 27: (6, 910)}
# Table 5.1.3.2-1: TBS for N'_info <= 3824 (the part this test reaches)
TBS_TABLE = [24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160,
             168, 176, 184, 192, 208, 224, 240, 256, 272, 288, 304, 320, 336, 352, 368, 384,
             408, 432, 456, 480, 504, 528, 552, 576, 608, 640, 672, 704, 736, 768, 808, 848,
             888, 928, 984, 1032, 1064, 1128, 1160, 1192, 1224, 1256, 1288, 1320, 1352, 1416,
             1480, 1544, 1608, 1672, 1736, 1800, 1864, 1928, 2024, 2088, 2152, 2216, 2280,
             2408, 2472, 2536, 2600, 2664, 2728, 2792, 2856, 2976, 3104, 3240, 3368, 3496,
             3624, 3752, 3824]  # fmt: skip


def _tbs_by_hand(n_prb: int, mcs: int, layers: int) -> int:
    qm, r1024 = MCS1[mcs]
    rate = r1024 / 1024
    n_re = min(156, 12 * 14 - 12) * n_prb  # 14 symbols, 12 DMRS REs per PRB
    n_info = n_re * rate * qm * layers
    if n_info <= 3824:
        n = max(3, math.floor(math.log2(n_info)) - 6)
        n_info_q = max(24, 2**n * math.floor(n_info / 2**n))
        return min(t for t in TBS_TABLE if t >= n_info_q)
    n = math.floor(math.log2(n_info - 24)) - 5
    n_info_q = max(3840, 2**n * round((n_info - 24) / 2**n))
    if rate <= 1 / 4:
        c = math.ceil((n_info_q + 24) / 3816)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    if n_info_q > 8424:
        c = math.ceil((n_info_q + 24) / 8424)
        return 8 * c * math.ceil((n_info_q + 24) / (8 * c)) - 24
    return 8 * math.ceil((n_info_q + 24) / 8) - 24


@pytest.mark.parametrize(
    ("n_prb", "mcs", "layers", "expected"),
    [(1, 0, 1, 32), (10, 10, 1, 2088), (50, 20, 1, 26120), (20, 27, 2, 32776)],
)
def test_transport_block_sizes_follow_38_214(n_prb, mcs, layers, expected):
    from netsim.radio.nr import transport_block

    assert _tbs_by_hand(n_prb, mcs, layers) == expected  # the hand computation itself
    tb = transport_block(n_prb, mcs, 1, layers)
    assert tb.tb_bits == expected
    qm, r1024 = MCS1[mcs]
    assert tb.modulation_order == qm and tb.code_rate == pytest.approx(r1024 / 1024)
    assert tb.n_cb >= 1 and tb.cb_bits * tb.n_cb >= tb.tb_bits
