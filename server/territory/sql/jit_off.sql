set local jit = off
