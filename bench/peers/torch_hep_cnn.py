"""PyTorch peer for bench/train-throughput.ts: the seed's HEP CNN (hep_cnn_benchmark v1).

64 variant: 3 x [conv3x3(128, same) + bias + ReLU + maxpool 2x2/2 + dropout] -> flatten
            -> FC num_fc_units + ReLU + dropout -> FC 2
224 variant (scaling_improvements): 4 blocks -> conv3x3 + bias + ReLU -> global avg pool -> FC 2
Dropout keep probability 0.5 (p=0.5 in PyTorch terms), softmax cross-entropy, Adam.
--channels-last: model and images in channels_last (NHWC) memory format, as oneDNN prefers.
--bf16: the forward pass under torch.autocast('cpu', torch.bfloat16) (fp32 master weights).
Allocator settings (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_) come from the caller's
environment: glibc reads them at start-up.
Prints one JSON line: {"peer": "torch", "version", "size", "batch", "threads", "channels_last", "bf16",
"train_img_s", "infer_img_s"}.
"""
import contextlib
import argparse
import json
import time

import torch
import torch.nn as nn


def conv_block(cin, filters, keep):
    return [nn.Conv2d(cin, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(1 - keep)]


def build(size, filters=128, fc_units=512, keep=0.5):
    if size == 64:
        layers = conv_block(3, filters, keep) + conv_block(filters, filters, keep) + conv_block(filters, filters, keep)
        flat = filters * (size // 8) ** 2
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, fc_units), nn.ReLU(), nn.Dropout(1 - keep),
                             nn.Linear(fc_units, 2))
    layers = conv_block(3, filters, keep)
    for _ in range(3):
        layers += conv_block(filters, filters, keep)
    return nn.Sequential(*layers, nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(filters, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size', type=int, default=64, choices=[64, 224])
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--bf16', action='store_true')
    args = parser.parse_args()

    torch.manual_seed(12345)
    torch.set_num_threads(args.threads)
    model = build(args.size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    images = torch.rand(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 2, (args.batch,))
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)

    def precision():
        return torch.autocast('cpu', dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    def train_step():
        optimizer.zero_grad()
        with precision():
            logits = model(images)
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    for _ in range(args.warmup):
        train_step()
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step()
    train_rate = args.batch * args.steps / (time.perf_counter() - start)

    model.eval()
    with torch.no_grad(), precision():
        for _ in range(args.warmup):
            model(images)
        start = time.perf_counter()
        for _ in range(args.steps):
            torch.softmax(model(images), dim=1)
        infer_rate = args.batch * args.steps / (time.perf_counter() - start)

    print(json.dumps({'peer': 'torch', 'version': torch.__version__, 'size': args.size, 'batch': args.batch,
                      'threads': torch.get_num_threads(), 'channels_last': args.channels_last, 'bf16': args.bf16,
                      'train_img_s': train_rate, 'infer_img_s': infer_rate}))


if __name__ == '__main__':
    main()
