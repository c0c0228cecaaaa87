(function(){
var D=JSON.parse(document.getElementById('report-data').textContent);

// ------------------------------------------------------------------ KPIs
var k=document.getElementById('kpis');
D.kpis.forEach(function(x){var d=document.createElement('div');d.className='kpi';d.title=x.def;
  d.innerHTML='<div class="l">'+esc(x.label)+'</div><div class="v '+(x.sign>0?'pos':x.sign<0?'neg':'')+
  '">'+esc(x.text)+'</div>';k.appendChild(d);});

// ------------------------------------------------------------------ account and members
var E=D.equity, ets=Array.from(b64f64(E.ts)), eq=Array.from(b64f32(E.equity)), edd=Array.from(b64f32(E.dd));
var palette=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#17becf','#bcbd22','#7f7f7f'];
function drawEquity(){
  var tr=[{type:'scatter',mode:'lines',name:'Account equity',x:ets,y:eq,line:{color:cssVar('--accent'),width:2},yaxis:'y'}];
  E.members.forEach(function(m,i){tr.push({type:'scatter',mode:'lines',name:m.label+' (change)',x:ets,
    y:Array.from(b64f32(m.change)),line:{color:palette[i%palette.length],width:1.2},yaxis:'y2'});});
  tr.push({type:'scatter',mode:'lines',name:'Account drawdown',x:ets,y:edd,fill:'tozeroy',
    line:{color:cssVar('--down'),width:1},yaxis:'y3'});
  Plotly.react('equity',tr,baseLayout({grid:{rows:3,columns:1,roworder:'top to bottom'},
    xaxis:{type:'date'},yaxis:{title:'USDT',domain:[0.5,1]},
    yaxis2:{title:'member PnL',domain:[0.2,0.46],gridcolor:cssVar('--grid')},
    yaxis3:{title:'DD',tickformat:'.1%',domain:[0,0.16],gridcolor:cssVar('--grid')},
    margin:{l:70,r:20,t:10,b:40}}),PLOT_CONFIG);
}
drawEquity();

// ------------------------------------------------------------------ metrics & manifest
var mg=document.getElementById('metrics');
D.metrics.forEach(function(g){var d=document.createElement('div');d.className='mgroup';
  d.innerHTML='<h3>'+esc(g.group)+'</h3>'+g.items.map(function(x){return '<div class="mrow"><span class="n" title="'+esc(x.def)+
    '">'+esc(x.label)+'<span class="d">'+esc(x.def)+'</span></span><span class="v '+(x.sign>0?'pos':x.sign<0?'neg':'')+'">'+
    esc(x.text)+'</span></div>';}).join('');mg.appendChild(d);});
var mf=document.getElementById('manifest');
mf.innerHTML=D.manifest.map(function(r){return '<dt>'+esc(r[0])+'</dt><dd>'+esc(r[1])+'</dd>';}).join('');

window.onThemeChange=function(){drawEquity();};
window.REPORT_READY=true;
})();
