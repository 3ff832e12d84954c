export async function benchCommand(_argv: string[]): Promise<void> {
  await Promise.resolve();
  throw new Error("todo");
}
