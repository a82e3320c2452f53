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
