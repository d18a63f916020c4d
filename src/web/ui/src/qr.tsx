// A QR code drawn as an SVG element (no innerHTML, no data: URL, so the page's CSP stays strict).
import qrcode from 'qrcode-generator';

/** The QR code of `text` (byte mode, level M, the smallest version that holds it). */
export function Qr({ text, label, class: cls }: { text: string; label: string; class?: string }) {
  const symbol = qrcode(0, 'M');
  symbol.addData(String.fromCharCode(...new TextEncoder().encode(text)), 'Byte');
  symbol.make();
  const n = symbol.getModuleCount();
  let d = '';
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (symbol.isDark(y, x)) d += `M${x + 4} ${y + 4}h1v1h-1z`;
  return (
    <svg class={cls} viewBox={`0 0 ${n + 8} ${n + 8}`} role="img" aria-label={label} data-testid="qr" shape-rendering="crispEdges">
      <rect width={n + 8} height={n + 8} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
