/**
 * Objects can offer a rich representation for the kernel's execute_result by
 * defining a method under this symbol that returns a MIME bundle
 * (e.g. `{'application/vnd.plotly.v1+json': fig, 'text/html': ...}`), or
 * null for no execute_result at all.
 */
export const MIME_BUNDLE = Symbol.for('hpcdl.mimeBundle');
