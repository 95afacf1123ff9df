"""Privacy attacks: gradient inversion (DLG, iDLG, IG), the GAN adversary, image metrics
and the attacker entity that listens at the server or an AP."""
