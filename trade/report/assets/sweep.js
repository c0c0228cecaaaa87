(function(){
var D=JSON.parse(document.getElementById('report-data').textContent);
var C=D.cols, N=D.n, state={metric:D.metric,x:D.x,y:D.y,agg:'max'};
function doc(m){return D.docs[m]||{label:m,unit:'ratio',higher:true,def:''};}
function fmtM(m,v){if(v===null||v===undefined||isNaN(v))return 'n/a';var u=doc(m).unit;
  if(u==='fraction')return (v*100).toFixed(2)+'%';if(u==='percent')return v.toFixed(2)+'%';if(u==='count')return Math.round(v).toLocaleString('en-US');
  if(u==='multiple')return v.toFixed(2)+'x';return fmtNum(v,Math.abs(v)>=1000?0:3);}
function pname(p){return p?p.replace(/^param\./,''):'';}
function fill(sel,opts,val,labels){sel.innerHTML=opts.map(function(o,i){return '<option value="'+esc(o)+'"'+(o===val?' selected':'')+'>'+
  esc(labels?labels[i]:o)+'</option>';}).join('');}
var selM=document.getElementById('metric'),selX=document.getElementById('px'),selY=document.getElementById('py'),selA=document.getElementById('agg');
fill(selM,D.metrics,state.metric,D.metrics.map(function(m){return doc(m).label+' ('+m+')';}));
var popts=[''].concat(D.params);
fill(selX,popts,state.x||'',popts.map(function(p){return p?pname(p):'(none)';}));
fill(selY,popts,state.y||'',popts.map(function(p){return p?pname(p):'(none)';}));
selM.onchange=function(){state.metric=selM.value;drawAll();};
selX.onchange=function(){state.x=selX.value||null;drawHeat();};
selY.onchange=function(){state.y=selY.value||null;drawHeat();};
selA.onchange=function(){state.agg=selA.value;drawHeat();};
function mcol(m){return C['metric.'+m]||[];}
function better(m){return doc(m).higher!==false;}
function uniq(col){var s={},out=[];col.forEach(function(v){if(v!==null&&!(v in s)){s[v]=1;out.push(v);}});
  out.sort(function(a,b){return (typeof a==='number'&&typeof b==='number')?a-b:String(a)<String(b)?-1:1;});return out;}
function aggregate(vals,how,hi){if(!vals.length)return null;vals=vals.slice().sort(function(a,b){return a-b;});
  if(how==='mean')return vals.reduce(function(a,b){return a+b;},0)/vals.length;
  if(how==='median'){var k=vals.length>>1;return vals.length%2?vals[k]:(vals[k-1]+vals[k])/2;}
  var best=hi?vals[vals.length-1]:vals[0],worst=hi?vals[0]:vals[vals.length-1];return how==='max'?best:worst;}
function kpis(){var m=state.metric,v=mcol(m).filter(function(x){return x!==null;}),hi=better(m);
  var s=v.slice().sort(function(a,b){return a-b;});
  var items=[['Variants',N.toLocaleString('en-US')],['Best '+doc(m).label,fmtM(m,s.length?(hi?s[s.length-1]:s[0]):null)],
    ['Median',fmtM(m,aggregate(s,'median',hi))],['Worst',fmtM(m,s.length?(hi?s[0]:s[s.length-1]):null)],
    ['Defined',v.length+' of '+N]];
  if(doc(m).unit!=='count')items.push(['Share > 0',s.length?(100*s.filter(function(x){return x>0;}).length/s.length).toFixed(1)+'%':'n/a']);
  document.getElementById('kpis').innerHTML=items.map(function(x){return '<div class="kpi"><div class="l">'+esc(x[0])+
    '</div><div class="v">'+esc(x[1])+'</div></div>';}).join('');
  document.getElementById('mdef').textContent=doc(m).def;}
function scale(m){var hi=better(m);return hi?[[0,cssVar('--down')],[0.5,cssVar('--panel')],[1,cssVar('--up')]]:
  [[0,cssVar('--up')],[0.5,cssVar('--panel')],[1,cssVar('--down')]];}
function drawHeat(){var m=state.metric,vals=mcol(m),hi=better(m),el=document.getElementById('heat');
  if(!state.x){Plotly.purge(el);el.innerHTML='<div class="banner">No parameter varies in this sweep.</div>';
    el.dataset.banner='1';return;}
  if(el.dataset.banner){el.innerHTML='';delete el.dataset.banner;}
  var xs=uniq(C[state.x]);
  if(!state.y||state.y===state.x){var yv=xs.map(function(xv){var a=[];for(var i=0;i<N;i++)if(C[state.x][i]===xv&&vals[i]!==null)a.push(vals[i]);
      return aggregate(a,state.agg,hi);});
    Plotly.react(el,[{type:'scatter',mode:'lines+markers',x:xs,y:yv,line:{color:cssVar('--accent')},name:doc(m).label}],
      baseLayout({xaxis:{title:{text:pname(state.x)}},yaxis:{title:{text:doc(m).label}}}),PLOT_CONFIG);return;}
  var ys=uniq(C[state.y]),cells={};
  for(var i=0;i<N;i++){if(vals[i]===null)continue;var k=C[state.x][i]+'|'+C[state.y][i];(cells[k]=cells[k]||[]).push(vals[i]);}
  var z=ys.map(function(yv){return xs.map(function(xv){var c=cells[xv+'|'+yv];return c?aggregate(c,state.agg,hi):null;});});
  var text=z.map(function(r){return r.map(function(v){return fmtM(m,v);});});
  var flat=[];z.forEach(function(r){r.forEach(function(v){if(v!==null)flat.push(v);});});
  var big=xs.length*ys.length<=400;
  Plotly.react(el,[{type:'heatmap',x:xs.map(String),y:ys.map(String),z:z,text:text,texttemplate:big?'%{text}':'',
    hovertemplate:pname(state.x)+'=%{x}<br>'+pname(state.y)+'=%{y}<br>'+esc(doc(m).label)+': %{text}<extra></extra>',
    colorscale:scale(m),zmid:(Math.min.apply(null,flat)<0&&Math.max.apply(null,flat)>0)?0:undefined,xgap:1,ygap:1,
    colorbar:{thickness:12,outlinewidth:0}}],
    baseLayout({hovermode:'closest',xaxis:{title:{text:pname(state.x)},type:'category'},
      yaxis:{title:{text:pname(state.y)},type:'category'},margin:{l:70,r:10,t:10,b:50}}),PLOT_CONFIG);}
function drawHist(){var m=state.metric,v=mcol(m).filter(function(x){return x!==null;});
  var u=doc(m).unit==='fraction',vv=u?v.map(function(x){return x*100;}):v;
  var top=ranked().slice(0,D.top_n),thr=top.length?mcol(m)[top[top.length-1]]:null;
  var shapes=thr===null?[]:[{type:'line',xref:'x',yref:'paper',x0:u?thr*100:thr,x1:u?thr*100:thr,y0:0,y1:1,
    line:{color:cssVar('--accent'),dash:'dash',width:1.5}}];
  Plotly.react('hist',[{type:'histogram',x:vv,nbinsx:Math.min(80,Math.max(10,Math.round(Math.sqrt(v.length)*2))),
    marker:{color:cssVar('--accent'),line:{color:cssVar('--panel'),width:1}},opacity:0.85,name:'variants'}],
    baseLayout({hovermode:'closest',bargap:0.02,shapes:shapes,xaxis:{title:{text:doc(m).label+(u?' (%)':'')}},
      yaxis:{title:{text:'variants'}},annotations:thr===null?[]:[{x:u?thr*100:thr,y:1,yref:'paper',text:'top '+top.length,
      showarrow:false,xanchor:'left',font:{color:cssVar('--accent')}}]}),PLOT_CONFIG);}
function drawWF(){var card=document.getElementById('wfcard');if(!D.walk_forward.length){card.style.display='none';return;}
  var m=D.walk_forward.indexOf(state.metric)>=0?state.metric:D.walk_forward[0];
  var xi=C['is.metric.'+m],yo=C['oos.metric.'+m],x=[],y=[],t=[];
  for(var i=0;i<N;i++){if(xi[i]===null||yo[i]===null)continue;x.push(xi[i]);y.push(yo[i]);
    t.push('variant '+C.variant_id[i]+'<br>'+D.params.map(function(p){return pname(p)+'='+C[p][i];}).join('<br>'));}
  var lo=Math.min.apply(null,x.concat(y)),hi=Math.max.apply(null,x.concat(y));
  Plotly.react('wf',[{type:'scatter',mode:'markers',x:x,y:y,text:t,hovertemplate:'%{text}<br>IS %{x}<br>OOS %{y}<extra></extra>',
    marker:{color:cssVar('--accent'),size:7,opacity:0.7},name:'variants'},
    {type:'scatter',mode:'lines',x:[lo,hi],y:[lo,hi],line:{color:cssVar('--muted'),dash:'dot'},name:'OOS = IS',hoverinfo:'skip'}],
    baseLayout({hovermode:'closest',xaxis:{title:{text:'in-sample '+doc(m).label}},yaxis:{title:{text:'out-of-sample '+doc(m).label}}}),
    PLOT_CONFIG);}
function ranked(){var m=state.metric,v=mcol(m),hi=better(m),idx=[];for(var i=0;i<N;i++)if(v[i]!==null)idx.push(i);
  idx.sort(function(a,b){return hi?v[b]-v[a]:v[a]-v[b];});return idx;}
function drawTop(){var m=state.metric,idx=ranked().slice(0,D.top_n);
  var extra=['total_return','max_drawdown','sharpe','num_trades','win_rate','profit_factor'].filter(function(k){return k!==m&&C['metric.'+k];});
  var wf=D.walk_forward.indexOf(m)>=0;
  var head=['#','variant'].concat(D.params.map(pname),['<b>'+esc(doc(m).label)+'</b>'],wf?['IS','OOS']:[],extra.map(function(k){return esc(doc(k).label);}),
    D.links.length?['report']:[]);
  document.querySelector('#top thead').innerHTML='<tr>'+head.map(function(h,i){return '<th'+(i===1?' class="l"':'')+'>'+h+'</th>';}).join('')+'</tr>';
  document.querySelector('#top tbody').innerHTML=idx.map(function(i,r){var v=mcol(m)[i];
    var cells=['<td>'+(r+1)+'</td>','<td class="l">'+esc(C.variant_id[i])+'</td>'].concat(
      D.params.map(function(p){return '<td>'+esc(C[p][i])+'</td>';}),
      ['<td class="'+((v>0)===better(m)?'pos':'neg')+'"><b>'+fmtM(m,v)+'</b></td>'],
      wf?['<td>'+fmtM(m,C['is.metric.'+m][i])+'</td>','<td>'+fmtM(m,C['oos.metric.'+m][i])+'</td>']:[],
      extra.map(function(k){return '<td>'+fmtM(k,C['metric.'+k][i])+'</td>';}),
      D.links.length?['<td>'+(D.links[i]?'<a href="'+esc(D.links[i])+'">run report</a>':'–')+'</td>']:[]);
    return '<tr>'+cells.join('')+'</tr>';}).join('');
  document.getElementById('topinfo').textContent='by '+doc(m).label+(better(m)?' (higher is better)':' (lower is better)');}
function drawAll(){kpis();drawHeat();drawHist();drawWF();drawTop();}
drawAll();
window.onThemeChange=drawAll;
window.REPORT_READY=true;
})();
