# Title: A small network trained one step on the GPU: every node of its graph lives on cuda
# Needs a CUDA GPU. The model and the batch move to cuda; the gradients are made there too.
import torch
import torch.nn as nn

torch.manual_seed(0)
device = "cuda"
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device)
x = torch.randn(16, 4, device=device)
target = torch.randn(16, 1, device=device)
opt = torch.optim.SGD(net.parameters(), lr=0.1)

loss = nn.functional.mse_loss(net(x), target)
opt.zero_grad()
loss.backward()
opt.step()
print(loss.item(), net[0].weight.grad.device)  # ... cuda:0
