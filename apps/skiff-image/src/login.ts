// skiff-image login / logout: shared with skiff, so they live in cli-kit.
export { loginCommand, logoutCommand } from '@skiff/cli-kit/login';
