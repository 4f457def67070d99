"""Reading stored runs: finding them (runs), comparing two (compare), a
cell's figures across runs (history), writing one out (export)."""
