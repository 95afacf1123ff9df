"""3GPP NR link abstraction: MCS tables and transport blocks (TS 38.214), on Sionna.

Sionna SYS/PHY (``sionna-no-rt``, PyTorch) is the engine: its MCS decoder (Tables
5.1.3.1-1 .. -4) and transport-block helper (5.1.3.2: TBS, code-block segmentation) are
used as they are, imported lazily (the import takes seconds) only when an NR link is
built. This module is the first step of the NR link abstraction (issue 20): BLER, HARQ
and link adaptation on the OFDMA scheduler come next.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class TransportBlock:
    """One slot's transport block: information bits (TBS), code-block size (bits, CRCs
    included) and count, and the MCS's modulation order (bits per symbol) and code rate."""

    tb_bits: int
    cb_bits: int
    n_cb: int
    modulation_order: int
    code_rate: float


@lru_cache(maxsize=4096)
def transport_block(
    n_prb: int,
    mcs_index: int,
    mcs_table: int = 1,
    layers: int = 1,
    symbols: int = 14,
    dmrs_per_prb: int = 12,
    uplink: bool = True,
) -> TransportBlock:
    """The transport block of ``n_prb`` PRBs at MCS ``mcs_index`` of table ``mcs_table``
    (1: up to 64QAM, 2: 256QAM, ...) with ``layers`` MIMO layers over ``symbols`` OFDM
    symbols, ``dmrs_per_prb`` REs per PRB taken by DMRS (TS 38.214 5.1.3.2 / 6.1.4.2)."""
    from sionna.phy.nr.utils import calculate_tb_size, decode_mcs_index

    order, rate = decode_mcs_index(mcs_index, table_index=mcs_table, is_pusch=uplink)
    tb, cb, n_cb, *_ = calculate_tb_size(
        modulation_order=order,
        target_coderate=rate,
        num_prbs=n_prb,
        num_ofdm_symbols=symbols,
        num_dmrs_per_prb=dmrs_per_prb,
        num_layers=layers,
    )
    return TransportBlock(int(tb), int(cb), int(n_cb), int(order), float(rate))
