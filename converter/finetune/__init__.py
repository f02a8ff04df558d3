"""Fine-tuning the converted I3D on a user's own classes, on one process or many (torchrun).

- ``data``: the pre-processed layout (``<split>/<class>/<clip>/{rgb,flow}.npy``), checked before training,
  and the clip sampling (random temporal/spatial crop + flip for training, centre for evaluation);
- ``model``: a stream's weights with a new classifier, flow from RGB weights, two streams summed;
- ``freeze``: everything before ``--train-from`` is frozen, gradients and BatchNorm statistics alike;
- ``sync_bn``: BatchNorm statistics over the global batch when several processes train;
- ``distributed``: the process group torchrun describes (gloo on CPU, NCCL on GPUs);
- ``evaluate``: top-1/top-5, loss and confusion matrix of a split; ``predict``: one video;
- ``train``: the loop, its checkpoints (resumable after a crash) and ``metrics``.
"""
