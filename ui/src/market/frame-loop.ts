// Render at most once per animation frame: messages are applied as they arrive (a book can take
// 1,000 updates a second), the DOM and the charts are touched once per frame, whatever came.

export class FrameLoop {
  private pending = false;

  constructor(private readonly draw: () => void) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }
}
