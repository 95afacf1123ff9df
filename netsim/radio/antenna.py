"""3GPP TR 38.901 base-station antenna model (clause 7.3 and Table 7.8-1).

Angles in degrees: ``theta`` the zenith angle (90 = horizon, above 90 below it), ``phi`` the
azimuth off boresight. Gains in dBi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ELEMENT_GAIN_DBI = 8.0  # G_E,max of Table 7.3-1
_BEAMWIDTH_DEG = 65.0  # 3 dB beamwidth of both cuts
_SLA_DB = 30.0  # side-lobe level of the vertical cut
_A_MAX_DB = 30.0  # front-back ratio


def horizontal_pattern_db(phi_deg: np.ndarray | float) -> np.ndarray:
    """``A_E,H(phi) = -min(12 (phi / 65)^2, 30)`` dB (phi wrapped to [-180, 180))."""
    phi = (np.asarray(phi_deg, dtype=float) + 180.0) % 360.0 - 180.0
    return -np.minimum(12.0 * (phi / _BEAMWIDTH_DEG) ** 2, _A_MAX_DB)


def vertical_pattern_db(theta_deg: np.ndarray | float) -> np.ndarray:
    """``A_E,V(theta) = -min(12 ((theta - 90) / 65)^2, 30)`` dB."""
    theta = np.asarray(theta_deg, dtype=float)
    return -np.minimum(12.0 * ((theta - 90.0) / _BEAMWIDTH_DEG) ** 2, _SLA_DB)


def element_gain_db(theta_deg: np.ndarray | float, phi_deg: np.ndarray | float) -> np.ndarray:
    """Element gain ``8 - min(-(A_V + A_H), 30)`` dBi (Table 7.3-1)."""
    a = -np.minimum(-(vertical_pattern_db(theta_deg) + horizontal_pattern_db(phi_deg)), _A_MAX_DB)
    return ELEMENT_GAIN_DBI + a


def column_factor_db(
    theta_deg: np.ndarray | float, rows: int, spacing_wavelengths: float, downtilt_deg: float
) -> np.ndarray:
    """Array factor (dB) of a vertical column of ``rows`` elements ``spacing_wavelengths``
    apart, all feeding one port with weights ``exp(-j 2 pi m d cos(theta_tilt)) / sqrt(M)``
    (TR 36.897 / 38.901 electrical downtilt ``downtilt_deg`` as a zenith angle, 90 = no
    tilt): ``|sum_m exp(j 2 pi m d (cos theta - cos theta_tilt))|^2 / M``, ``10 log10 M`` at
    the tilt."""
    theta = np.radians(np.asarray(theta_deg, dtype=float))
    psi = 2.0 * np.pi * spacing_wavelengths * (np.cos(theta) - np.cos(np.radians(downtilt_deg)))
    m = np.arange(rows).reshape((rows,) + (1,) * psi.ndim)
    field = np.exp(1j * m * psi).sum(axis=0)
    power = np.abs(field) ** 2 / rows
    return 10.0 * np.log10(np.maximum(power, 1e-30))


@dataclass(frozen=True)
class SectorAntenna:
    """A sector's TR 38.901 antenna: the element pattern of Table 7.3-1 (8 dBi, both cuts)
    on a single column of ``rows`` elements with an electrical downtilt (Table 7.8-1's
    calibration: 10 elements, 0.5 wavelength, 102 degrees)."""

    rows: int = 10
    spacing_wavelengths: float = 0.5
    downtilt_deg: float = 102.0

    def gain_db(self, theta_deg: np.ndarray, phi_deg: np.ndarray) -> np.ndarray:
        """Gain (dBi) towards zenith ``theta_deg`` and azimuth ``phi_deg`` off boresight."""
        return element_gain_db(theta_deg, phi_deg) + column_factor_db(
            theta_deg, self.rows, self.spacing_wavelengths, self.downtilt_deg
        )
