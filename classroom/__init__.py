"""The whole course cycle in one place: the ``autograder`` command and the demo.

:mod:`.cli` is the one ``autograder`` command: it parses arguments and calls one
function of :mod:`autograder`, :mod:`finalgrades` or :mod:`portal`. :mod:`.demo`
runs a whole course cycle on simulated students. Nothing imports this package.
"""
