// Draws an occlusion map (evidenceProtocol's ExplanationMessage) over a face crop: each grid cell tinted red by
// how much greying it out lowered the fake score (the regions the model relied on), blue where it raised it.

export function drawHeatmap(canvas: HTMLCanvasElement, image: HTMLImageElement, grid: number, drops: number[]): void {
  const side = 256;
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.drawImage(image, 0, 0, side, side);
  const scale = Math.max(1e-6, ...drops.map((d) => Math.abs(d)));
  const cell = side / grid;
  for (let i = 0; i < drops.length; i++) {
    const v = drops[i]! / scale;
    ctx.fillStyle = v >= 0 ? `rgba(220, 30, 30, ${(0.65 * v).toFixed(3)})` : `rgba(30, 90, 220, ${(-0.5 * v).toFixed(3)})`;
    ctx.fillRect((i % grid) * cell, Math.floor(i / grid) * cell, cell, cell);
  }
  ctx.strokeStyle = "rgba(255, 255, 255, 0.25)";
  ctx.lineWidth = 1;
  for (let k = 1; k < grid; k++) {
    ctx.beginPath();
    ctx.moveTo(k * cell + 0.5, 0);
    ctx.lineTo(k * cell + 0.5, side);
    ctx.moveTo(0, k * cell + 0.5);
    ctx.lineTo(side, k * cell + 0.5);
    ctx.stroke();
  }
}
