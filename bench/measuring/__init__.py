"""Measuring: what a cell and a measurement are (cell), the one measuring
function (measure), the timers (timer, gpu), where cells run (executors,
worker, cluster), the machine's manifest and peaks (machine, peaks), progress
(progress), and the headline's interleaved rounds (headline).  It stores
nothing: ``bench.runner`` hands what it measures to the store."""
