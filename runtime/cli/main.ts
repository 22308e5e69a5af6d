// placeholder until the CLI lands
console.log('trun');
