"""Tests of netsim.privacy: gradient inversion, the GAN adversary, attacks in runs."""
