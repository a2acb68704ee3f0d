// Draws a QR code on a <canvas>, with the vendored MIT-licensed encoder
// (vendor/qrcode-generator.mjs). A canvas needs no `data:` image source,
// so the page's Content-Security-Policy can stay strict.

import qrcode from './vendor/qrcode-generator.mjs';

/**
 * @param {HTMLCanvasElement} canvas
 * @param {string} text e.g. an otpauth:// URI
 */
export function renderQr(canvas, text, { cellSize = 4, margin = 4 } = {}) {
  const qr = qrcode(0, 'M'); // 0: the smallest version that fits
  qr.addData(text);
  qr.make();
  const modules = qr.getModuleCount();
  const size = (modules + 2 * margin) * cellSize;
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, size, size);
  context.fillStyle = '#000';
  for (let row = 0; row < modules; row += 1) {
    for (let col = 0; col < modules; col += 1) {
      if (qr.isDark(row, col)) {
        context.fillRect((col + margin) * cellSize, (row + margin) * cellSize, cellSize, cellSize);
      }
    }
  }
  return modules;
}
