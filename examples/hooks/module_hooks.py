# Title: Module hooks on nn.Linear(10, 5): a forward hook, then a full backward hook
import torch

torch.manual_seed(0)


def forward_hook(module, input, output):
    print(f"forward: {module.__class__.__name__}")
    print(f"  input: {[i.shape for i in input]}")
    print(f"  output: {output.shape}")


def backward_hook(module, grad_input, grad_output):
    print(f"backward: {module.__class__.__name__}")
    print(f"  grad_output: {grad_output}")


layer = torch.nn.Linear(10, 5)
layer.register_forward_hook(forward_hook)
layer.register_full_backward_hook(backward_hook)

x = torch.randn(2, 10, requires_grad=True)
out = layer(x)       # forward hook fires here
out.sum().backward()  # backward hook fires here
