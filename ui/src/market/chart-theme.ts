// The options both charts (candles-chart.ts, depth-chart.ts) share: their text and grid colours
// come from the page's style sheet (ui/style.css custom properties), so a change of theme there
// reaches the canvases too; the fallbacks are the sheet's own values.

export function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const text = css.getPropertyValue('--muted').trim() || '#8a96a8';
  const line = css.getPropertyValue('--line').trim() || '#263040';
  return {
    autoSize: true,
    layout: { background: { color: 'transparent' }, textColor: text },
    grid: { vertLines: { color: line }, horzLines: { color: line } },
  };
}
