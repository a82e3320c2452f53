# Title: register_hook on a tensor: the hook sees the gradient flowing through y
import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 2

hook_handle = y.register_hook(lambda grad: print(f"grad: {grad}"))
y.backward()  # prints grad: tensor([1.])
hook_handle.remove()  # the hook will not fire again
