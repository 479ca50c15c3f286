"""The CIFAR ResNet-18 of cddp-worker's --model=resnet18
(worker/torch/models.cc) in PyTorch, for the DDP baselines: a 3x3 stem of
64 channels (stride 1, no pooling), four stages of two BasicBlocks (64,
128, 256, 512 channels; stride 2 from the second stage on, a 1x1
convolution and batch norm on the shortcut where the shape changes),
global average pooling and one linear layer: 11,173,962 parameters for 10
classes, as the C++ model has.
"""
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, planes, 1, stride, 0, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for stage, planes in enumerate((64, 128, 256, 512)):
            for b in range(2):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(cin, planes, stride))
                cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)
