// Workloads the bench adds to its copy of ../shared/peers (appended to that
// copy's models.mjs, so that they use its GraphBuilder: the same weights'
// distribution, folded BatchNorm and fused activations as its own
// workloads, and TF.js runs exactly the graph the engine runs).

// ResNet-50: torchvision's layout (Bottleneck ×[3,4,6,3]: 1×1, 3×3 with the
// stage's stride, 1×1 to 4× the width; a 1×1 downsample on each stage's
// first block), 1000 classes; target layer4's output, 2048×7×7.
export function resnet50(seed = 1234) {
  const b = new GraphBuilder('resnet50', [3, 224, 224], seed);
  let x = b.conv('input', 64, 7, 2, 3);
  x = b.maxpool(x, 3, 2, 1);
  let cin = 64;
  const stages = [[64, 3, 1], [128, 4, 2], [256, 6, 2], [512, 3, 2]];
  for (const [planes, blocks, stride0] of stages) {
    for (let i = 0; i < blocks; i++) {
      const stride = i === 0 ? stride0 : 1;
      let y = b.conv(x, planes, 1, 1, 0);
      y = b.conv(y, planes, 3, stride, 1);
      y = b.conv(y, 4 * planes, 1, 1, 0, { act: 'none', gain: 0.5 });
      let sc = x;
      if (stride !== 1 || cin !== 4 * planes) sc = b.conv(x, 4 * planes, 1, stride, 0, { act: 'none', gain: 0.5 });
      x = b.add(y, sc, 'relu');
      cin = 4 * planes;
    }
  }
  const target = x;
  const logits = b.dense(b.gap(target), 1000);
  return b.finish(logits, target);
}
WORKLOADS.resnet50 = { build: resnet50, inputShape: [3, 224, 224] };
