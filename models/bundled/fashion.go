package bundled

import (
	"github.com/cnnlens/cnnlens/models/fmnist"
	"github.com/cnnlens/cnnlens/models/train"
)

// FashionDir is where the Fashion-MNIST IDX files are read from.
var FashionDir = fmnist.Dir

func init() {
	register(&Recipe{
		Name: "fashion",
		Spec: train.Spec{Channels: 1, Height: 28, Width: 28, Classes: 10, Flatten: true,
			Blocks: []train.Block{{Out: 16, Pool: true}, {Out: 32, Pool: true}, {Out: 64}}},
		Config: train.Config{Epochs: 6, Batch: 64, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4,
			Warmup: 0.2, Seed: 1, Augment: true},
		NetSeed:      1,
		Labels:       fmnist.Labels,
		Mean:         []float32{fmnist.Mean},
		Std:          []float32{fmnist.Std},
		Architecture: "3 conv blocks (3×3 conv 16, 32, 64 channels, BatchNorm, ReLU; 2×2 max pool after the first two), flatten 64×7×7, linear 10",
		Data:         "Fashion-MNIST (Zalando Research): 28×28 grey images of clothing in 10 classes, the official split of 60,000 training and 10,000 test images, read from the IDX files of Debian's dataset-fashion-mnist package",
		DataLicence:  "MIT (Expat), Copyright 2017 Zalando SE (Debian package dataset-fashion-mnist, /usr/share/doc/dataset-fashion-mnist/copyright)",
		TestSet:      "the official 10,000 Fashion-MNIST test images (t10k), never used in training or validation",
		Load: func() (train.Dataset, train.Dataset, train.Dataset, error) {
			tr, err := fmnist.Load(FashionDir, "train")
			if err != nil {
				return nil, nil, nil, err
			}
			tr.Shift = 1
			te, err := fmnist.Load(FashionDir, "t10k")
			if err != nil {
				return nil, nil, nil, err
			}
			return tr, nil, te, nil
		},
	})
}
