// Loader for merchants' own pages (a classic script, so it can run before any module):
//
//   <script src="https://3d.shop.example/viewer/embed.js"></script>
//   <immersive-product merchant="demo" sku="CH-4001"></immersive-product>
//
// It adds the import map that resolves "three" to the service's copy (nothing from a CDN) and loads the
// <immersive-product> element from the same service.
(function () {
  var script = document.currentScript;
  var viewer = new URL('.', script.src).href; // {base}/viewer/
  var hasThree = Array.prototype.some.call(document.querySelectorAll('script[type="importmap"]'), function (map) {
    try { return 'three' in (JSON.parse(map.textContent).imports || {}); } catch (e) { return false; }
  });
  if (!hasThree) {
    var map = document.createElement('script');
    map.type = 'importmap';
    map.textContent = JSON.stringify({
      imports: {
        three: viewer + 'vendor/three/build/three.module.js',
        'three/addons/': viewer + 'vendor/three/examples/jsm/',
      },
    });
    document.head.appendChild(map);
  }
  var element = document.createElement('script');
  element.type = 'module';
  element.src = viewer + 'js/element.js';
  document.head.appendChild(element);
})();
