# Title: Spotting exploding gradients by their norm, then clipping them with clip_grad_norm_
import torch

torch.manual_seed(0)


def warn_large_grads(model, limit=10):
    for name, param in model.named_parameters():
        if param.grad is not None:
            grad_norm = param.grad.norm()
            if grad_norm > limit:
                print(f"warning: {name} grad norm too large: {grad_norm:.1f}")


model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
inputs = torch.randn(16, 4) * 100  # badly scaled inputs blow up the gradients
loss = model(inputs).pow(2).mean()
loss.backward()
warn_large_grads(model)

total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
print(f"norm before clipping: {total_norm:.1f}")  # afterwards the total norm is 1.0
