"""The files a trial writes in its own folder beside Tune's: its checkpoint and the test-only
fault marker. datavsmath.sweeps.experiment_layout names them with every other file of an
experiment folder; the core cannot import it, so they are named here. No ray import here."""

STATE_FILE = "state.pkl"  # a trial's checkpoint (datavsmath.trainables.trainable)
FAULT_MARKER = "fault_injected"  # the injected fault already fired once (datavsmath.trainables.faults)
