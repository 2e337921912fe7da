#!/usr/bin/python3
"""Writes the .npy files that engine/interop's tests read, with numpy.save.

Run it from this folder: /usr/bin/python3 make.py (Debian's python3-numpy).
Every value is exact in float32; interop_test.go computes the same ones.
"""
import numpy as np

# float32, C order, 4-D: value i/4 - 3 at flat index i.
np.save("f32_4d.npy", (np.arange(2 * 3 * 4 * 5, dtype=np.float32) / 4 - 3).reshape(2, 3, 4, 5))
# A rank-0 float32 array.
np.save("scalar.npy", np.array(-2.5, dtype=np.float32))
# float64, 2-D: i * 0.125.
np.save("f64.npy", (np.arange(12, dtype=np.float64) * 0.125).reshape(3, 4))
# uint8, as images often are.
np.save("u8.npy", np.arange(6, dtype=np.uint8).reshape(2, 3) * 40)
# float32 with a dimension of 0.
np.save("empty.npy", np.zeros((0, 3), dtype=np.float32))
# float32 in Fortran (column-major) order: refused with a clear error.
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
# int64, which gorgonia.org/tensor v0.9.24 cannot read: refused.
np.save("i64.npy", np.arange(6, dtype=np.int64).reshape(2, 3))
# big-endian float32: refused rather than misread.
np.save("f32_be.npy", np.arange(4, dtype=">f4"))
