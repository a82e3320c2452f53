# Title: Gradient clipping: clip_grad_norm_ on all parameters vs a per-parameter adaptive clip
import copy

import torch

torch.manual_seed(0)


def clip_gradients(model, max_norm=1.0):
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def adaptive_grad_clip(model, clip_value=1.0):
    for param in model.parameters():
        if param.grad is not None:
            grad_norm = param.grad.norm()
            if grad_norm > clip_value:
                param.grad.data.mul_(clip_value / grad_norm)


model = torch.nn.Linear(4, 2)
model2 = copy.deepcopy(model)
inputs = torch.randn(8, 4)
(model(inputs) * 100).pow(2).mean().backward()  # deliberately huge gradients
(model2(inputs) * 100).pow(2).mean().backward()

clip_gradients(model, max_norm=1.0)         # total norm of all grads becomes 1.0
adaptive_grad_clip(model2, clip_value=1.0)  # each parameter's grad norm becomes at most 1.0
print(model.weight.grad.norm(), model2.weight.grad.norm())
