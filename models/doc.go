// Package models holds the bundled model files (shapes.onnx, fashion.onnx
// and their model cards) and the tests that re-measure them: accuracy
// recomputed from the data, parity with onnxruntime, size, and the
// localisation benchmark's headline number. The code that makes the models
// lives in the sub-packages: shapes (scenes), fmnist (Fashion-MNIST),
// train (the training loop), bundled (the recipes) and bench (the
// localisation benchmark).
package models
