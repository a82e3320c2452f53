# Title: A numerical gradient check that nudges parameters in place raises
# param.view(-1)[i] += eps is an in-place op on a view of a leaf that requires grad.
import torch

torch.manual_seed(0)


def check_gradients(model, inputs, targets, loss_fn, epsilon=1e-6):
    model.zero_grad()
    outputs = model(inputs)
    loss = loss_fn(outputs, targets)
    loss.backward()
    for name, param in model.named_parameters():
        if param.grad is None:
            continue
        analytical_grad = param.grad.detach().clone()
        numerical_grad = torch.zeros_like(param)
        for i in range(param.numel()):
            param_flat = param.view(-1)
            param_flat[i] += epsilon  # raises; the nudges need torch.no_grad()
            outputs_plus = model(inputs)
            loss_plus = loss_fn(outputs_plus, targets)
            param_flat[i] -= 2 * epsilon
            outputs_minus = model(inputs)
            loss_minus = loss_fn(outputs_minus, targets)
            param_flat[i] += epsilon
            numerical_grad.view(-1)[i] = (loss_plus - loss_minus) / (2 * epsilon)
        max_error = torch.abs(analytical_grad - numerical_grad).max()
        print(f"{name}: max error = {max_error}")


model = torch.nn.Linear(3, 1)
inputs = torch.randn(4, 3)
targets = torch.randn(4, 1)
check_gradients(model, inputs, targets, torch.nn.MSELoss())
