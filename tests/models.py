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
