# Title: Inference under torch.no_grad(): no graph is recorded, outputs have no grad_fn
import torch

torch.manual_seed(0)
model = torch.nn.Linear(4, 2)
input_data = torch.randn(3, 4)

with torch.no_grad():
    output = model(input_data)
print(output.requires_grad, output.grad_fn)  # False None

train_output = model(input_data)  # outside no_grad the graph is recorded again
print(train_output.grad_fn)  # <AddmmBackward0 ...>
