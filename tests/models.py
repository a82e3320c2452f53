"""The models people study, as a learner would paste them: the graphs that must read well
(issue 10). Shared by the layout tests, the page tests and bench/page.py."""

MLP = """import torch
import torch.nn.functional as F
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
x = torch.randn(5, 4)
y = torch.randn(5, 1)
loss = F.mse_loss(net(x), y)
loss.backward()
"""

CNN = """import torch
import torch.nn.functional as F
torch.manual_seed(0)

class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3)
        self.conv2 = torch.nn.Conv2d(4, 8, 3)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc(x.flatten(1))

net = SmallCNN()
images = torch.randn(2, 1, 14, 14)
labels = torch.tensor([3, 7])
loss = F.cross_entropy(net(images), labels)
loss.backward()
"""

TRAINING_LOOP = """import torch
import torch.nn.functional as F
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
opt = torch.optim.SGD(net.parameters(), lr=0.05)
x = torch.randn(16, 4)
y = x.sum(dim=1, keepdim=True)
for step in range(20):
    opt.zero_grad()
    loss = F.mse_loss(net(x), y)
    loss.backward()
    opt.step()
"""

RNN = """import torch
torch.manual_seed(0)
W = torch.randn(4, 4, requires_grad=True)
h = torch.zeros(4)
for t in range(1000):
    h = torch.tanh(W @ h + 1.0)
loss = h.sum()
loss.backward()
"""

TRANSFORMER = """import torch
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0)
encoder = torch.nn.TransformerEncoder(layer, num_layers=6, enable_nested_tensor=False)
tokens = torch.randn(10, 2, 32, requires_grad=True)
loss = encoder(tokens).pow(2).mean()
loss.backward()
"""

ALL = {"mlp": MLP, "cnn": CNN, "training loop": TRAINING_LOOP, "rnn": RNN,
       "transformer": TRANSFORMER}

# A nanoGPT-style GPT (karpathy/nanoGPT's model.py, scaled down): a ModuleDict whose members the
# model calls one by one, with its own ops between them, and a ModuleList of blocks.
GPT = """import math
import torch
import torch.nn as nn
import torch.nn.functional as F

vocab_size, n_embd, n_head, block_size = 16, 16, 2, 8

class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        mask = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("bias", mask.view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(n_embd, dim=2)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
        q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
        v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block() for _ in range(2)]),
            ln_f=nn.LayerNorm(n_embd),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx, targets):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

model = GPT()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
idx = torch.randint(0, vocab_size, (2, block_size))
targets = torch.randint(0, vocab_size, (2, block_size))
logits, loss = model(idx, targets)
optimizer.zero_grad()
loss.backward()
optimizer.step()
print(loss.item())
"""


# A GAN step (the DCGAN tutorial's, made small): the discriminator is called three times.
GAN = """import torch
from torch import nn
torch.manual_seed(0)
netD = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
netG = nn.Sequential(nn.Linear(2, 4))
criterion = nn.BCEWithLogitsLoss()
real, noise = torch.randn(5, 4), torch.randn(5, 2)
errD_real = criterion(netD(real), torch.ones(5, 1))
fake = netG(noise)
errD_fake = criterion(netD(fake.detach()), torch.zeros(5, 1))
errD = errD_real + errD_fake
errD.backward()
errG = criterion(netD(fake), torch.ones(5, 1))
errG.backward()
"""

# An LSTM cell over 20 time steps: backprop through time.
LSTM_CELL = """import torch
from torch import nn
torch.manual_seed(0)
cell = nn.LSTMCell(4, 8)
head = nn.Linear(8, 1)
xs = torch.randn(20, 3, 4)
h, c = torch.zeros(3, 8), torch.zeros(3, 8)
for t in range(20):
    h, c = cell(xs[t], (h, c))
loss = head(h).pow(2).mean()
loss.backward()
"""

# Layers held in a plain Python list, called in a residual loop.
PLAIN_LIST = """import torch
from torch import nn
torch.manual_seed(0)
layers = [nn.Linear(8, 8) for _ in range(6)]
h = torch.randn(4, 8)
for lin in layers:
    h = h + torch.tanh(lin(h))
h.pow(2).mean().backward()
"""

# A ResNet of two BasicBlocks (torchvision's BasicBlock, made small).
RESNET = """import torch
import torch.nn as nn
import torch.nn.functional as F

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out += identity
        out = self.relu(out)
        return out

class ResNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)

model = ResNet()
x = torch.randn(2, 3, 8, 8)
target = torch.tensor([1, 3])
loss = F.cross_entropy(model(x), target)
loss.backward()
print(loss.item())
"""

# The official autograd tutorial's six nodes.
TUTORIAL = """import torch

x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
loss.backward()
print(w.grad)
print(b.grad)
"""

# The models of issue 26, each of a kind people bring: they must read at Fit.
REAL = {"gpt": GPT, "resnet": RESNET, "cnn": CNN, "gan": GAN, "lstm cell": LSTM_CELL,
        "plain list": PLAIN_LIST, "autograd tutorial": TUTORIAL}
