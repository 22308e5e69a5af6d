// placeholder until the bundle CLI lands
console.log('trun-bundle');
